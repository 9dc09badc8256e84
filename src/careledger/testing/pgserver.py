"""Deprecated re-export of :mod:`careledger.netctl.pgserver` (kept for one release)."""

from careledger.netctl.pgserver import *  # noqa: F403
