"""NATS credentials of a network: one nkey per organisation, and one for the CLI's client.

``careledger network up`` (without ``--tls``: a TLS network maps users from client
certificates instead) makes an Ed25519 user nkey per organisation, its seed in the organisation's
own directory (``consortium/orgs/<Org>/nats.nk``, mode 0600, next to its other key material),
and one for the CLI (``nats/client.nk``). The NATS servers' configuration lists only the public
keys with each one's denied subjects
(:func:`careledger.ordering.jetstream_streams.denied_subjects`): only orderer organisations may
publish blocks, nobody may delete, purge or reconfigure the ledger's streams, and a client that
holds no listed seed cannot connect. Each node reads its seed from ``[ordering] nkey_seed``.

Not for: TLS certificates (:mod:`careledger.tls`), or the NATS server processes
(:mod:`careledger.netctl.nats_cluster`).
"""

from __future__ import annotations

import os
from pathlib import Path

import nkeys

from careledger.crypto.keyfiles import read_secret, write_secret
from careledger.errors import CryptoError

SEED_FILE = "nats.nk"
CLIENT_SEED_FILE = "client.nk"


def new_user_seed(path: Path) -> str:
    """Write a new user nkey seed to ``path`` (mode 0600) unless one is there; its public key."""
    if not path.exists():
        seed: bytes = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        write_secret(path, seed + b"\n")
    return public_key(path)


def public_key(path: Path) -> str:
    """The public user nkey (``U…``) of the seed in ``path`` (refused when others may read it)."""
    try:
        pair = nkeys.from_seed(bytearray(read_secret(path).strip()))
        key: bytes = pair.public_key
    except nkeys.NkeysError as exc:
        raise CryptoError(f"{path} does not hold a NATS user nkey seed: {exc}") from exc
    return key.decode()
