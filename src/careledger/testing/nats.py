"""Deprecated re-export of :mod:`careledger.netctl.nats_cluster` (kept for one release)."""

from careledger.netctl.nats_cluster import *  # noqa: F403
