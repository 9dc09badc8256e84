"""The local multi-process network: ``careledger network up|down|status`` and ``bench network``.

``layout`` says where everything lives under the network directory, ``processes`` spawns and
stops the processes by the PIDs recorded there, ``control`` brings a network up, down and
reports on it, ``bench`` runs the Caliper-style workload against it. Not for production
deployments, where each organisation runs ``careledger node start`` on its own machines.
"""
