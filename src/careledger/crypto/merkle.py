"""Merkle tree of a block's transactions, with inclusion proofs.

The tree follows RFC 9162 §2.1 (Certificate Transparency v2): leaves are hashed as
``SHA-256(0x00 || leaf)``, inner nodes as ``SHA-256(0x01 || left || right)``, and a tree of ``n``
leaves splits at the largest power of two below ``n`` — so no leaf can be confused with a node and
no odd leaf is duplicated (the second-preimage weakness of Bitcoin's tree). The empty tree's root is
``SHA-256("")``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(_LEAF + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    n = len(hashes)
    if n == 1:
        return hashes[0]
    k = _split(n)
    return _node(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root hash over ``leaves`` (raw leaf bytes, hashed here)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _root_of_hashes([leaf_hash(leaf) for leaf in leaves])


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Audit path for leaf ``index`` in a tree of ``tree_size`` leaves (RFC 9162 §2.1.3)."""

    index: int
    tree_size: int
    path: tuple[bytes, ...]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """Proof that ``leaves[index]`` is in the tree over ``leaves``."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} outside a tree of {len(leaves)} leaves")
    hashes = [leaf_hash(leaf) for leaf in leaves]
    path: list[bytes] = []

    def walk(lo: int, hi: int, m: int) -> None:
        n = hi - lo
        if n == 1:
            return
        k = _split(n)
        if m < k:
            walk(lo, lo + k, m)
            path.append(_root_of_hashes(hashes[lo + k : hi]))
        else:
            walk(lo + k, hi, m - k)
            path.append(_root_of_hashes(hashes[lo : lo + k]))

    walk(0, len(hashes), index)
    return InclusionProof(index=index, tree_size=len(leaves), path=tuple(path))


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """True when ``leaf`` at ``proof.index`` hashes up to ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= proof.index < proof.tree_size:
        return False
    fn, sn = proof.index, proof.tree_size - 1
    r = leaf_hash(leaf)
    for p in proof.path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
