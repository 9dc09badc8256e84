"""CareLedger: a permissioned ledger for healthcare consortia.

The package is organised by ledger role (see docs/architecture.md): ``crypto`` (keys, hashing,
Merkle trees, canonical encoding), ``identity`` (organisations and members), ``ledger``
(transactions, blocks, stores), ``endorsement``, ``validation``, ``ordering``, ``contracts``,
``node`` (peer, gateway, embedded network) and ``cli``.
"""

__version__ = "0.1.0"
