"""RFC 9162 Merkle trees: known roots, and inclusion proofs that verify only what they prove."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from careledger.crypto.merkle import (
    InclusionProof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert merkle_root([]) == sha(b"")


def test_leaves_and_nodes_are_domain_separated() -> None:
    assert merkle_root([b"a"]) == sha(b"\x00a") == leaf_hash(b"a")
    assert merkle_root([b"a", b"b"]) == node(leaf_hash(b"a"), leaf_hash(b"b"))


def test_an_odd_leaf_is_not_duplicated() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    # RFC 9162 splits 3 leaves as (2, 1); Bitcoin would hash c twice.
    assert merkle_root([b"a", b"b", b"c"]) == node(node(a, b), c)
    assert merkle_root([b"a", b"b", b"c"]) != merkle_root([b"a", b"b", b"c", b"c"])


def test_five_leaves_split_at_the_largest_power_of_two_below() -> None:
    h = [leaf_hash(bytes([i])) for i in range(5)]
    expected = node(node(node(h[0], h[1]), node(h[2], h[3])), h[4])
    assert merkle_root([bytes([i]) for i in range(5)]) == expected


def test_a_node_cannot_pass_for_a_leaf() -> None:
    leaves = [b"a", b"b"]
    inner = leaf_hash(b"a") + leaf_hash(b"b")
    assert merkle_root([inner]) != merkle_root(leaves)


def test_proof_index_outside_the_tree_is_refused() -> None:
    with pytest.raises(IndexError):
        inclusion_proof([b"a"], 1)
    assert not verify_inclusion(b"a", InclusionProof(3, 2, ()), merkle_root([b"a", b"b"]))


leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(leaf_lists, st.data())
def test_every_leaf_proof_verifies_and_any_change_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        assert verify_inclusion(leaf, proof, root)

    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    proof = inclusion_proof(leaves, index)
    other = data.draw(st.binary(max_size=12), label="other leaf")
    assume(other != leaves[index])
    assert not verify_inclusion(other, proof, root), "a changed leaf verified"
    if proof.path:
        step = data.draw(st.integers(0, len(proof.path) - 1), label="path step")
        bit = data.draw(st.integers(0, 255), label="bit")
        path = list(proof.path)
        path[step] = bytes([path[step][0] ^ (1 << (bit % 8))]) + path[step][1:]
        assert not verify_inclusion(leaves[index], replace(proof, path=tuple(path)), root)
        assert not verify_inclusion(leaves[index], replace(proof, path=proof.path[:-1]), root)
        assert not verify_inclusion(
            leaves[index], replace(proof, path=(*proof.path, proof.path[0])), root
        )
    if len(leaves) > 1:
        moved = (index + 1) % len(leaves)
        if leaves[moved] != leaves[index]:
            assert not verify_inclusion(leaves[index], replace(proof, index=moved), root)
    assert not verify_inclusion(leaves[index], proof, root[::-1])


@settings(max_examples=100, deadline=None, derandomize=True)
@given(leaf_lists, st.data())
def test_changing_any_leaf_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    changed = [*leaves]
    changed[index] = leaves[index] + b"!"
    assert merkle_root(changed) != merkle_root(leaves)
    assert merkle_root([*leaves, b""]) != merkle_root(leaves)
