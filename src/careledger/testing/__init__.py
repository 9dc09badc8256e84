"""Deprecated: the local NATS cluster and PostgreSQL server moved to :mod:`careledger.netctl`
(``careledger.netctl.nats_cluster``, ``careledger.netctl.pgserver``) because ``network up`` uses
them, not only tests. These re-exports stay for one release (kept for one release).
"""
