"""One organisation's node process (``careledger node start --config org.toml``): its settings
(``config``), how ordering is set up for it (``ordering_setup``: solo, a JetStream client, the
orderer replica) and the wiring of peer, gateway, HTTP APIs and FHIR server (``process``).

The top of the node's layers: it may import every package below it; nothing but the CLI and
``netctl`` imports it. See docs/configuration.md and docs/network.md.
"""
