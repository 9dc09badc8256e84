"""Shared fixtures: a fresh three-organisation consortium on disk.

Networks are started inside each test with :func:`tests.harness.running` under ``asyncio.run``,
so every test owns its event loop and leaves no task, thread or file behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.node.consortium import ConsortiumConfig
from tests.harness import new_consortium


@pytest.fixture
def consortium(tmp_path: Path) -> ConsortiumConfig:
    """Org1, Org2, Org3 with members peer0, orderer0, admin, client0 each; nothing running."""
    return new_consortium(tmp_path / "consortium")
