"""The node HTTP API: routes a node serves, the service behind them, and the client side.

``app`` builds the FastAPI application (routes only parse and delegate), ``service`` holds what a
node does for a request (endorse, submit, evaluate, queries, commit events), ``auth`` signs and
checks requests, ``client`` is the SDK (:class:`NodeClient`) and the remote endorser other
organisations' gateways use. See ``docs/api.md``.
"""
