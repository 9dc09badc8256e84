"""The block store: blocks read back as written, in order, and a crash mid-append loses only the
block being written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.errors import StorageError
from careledger.ledger.block import GENESIS_PREVIOUS_HASH, Block, make_block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode


def chain(count: int) -> list[Block]:
    blocks: list[Block] = []
    previous = GENESIS_PREVIOUS_HASH
    for n in range(count):
        block = make_block(n, previous, [f"tx {n}.{i}".encode() * (n + 1) for i in range(3)], n)
        block.signer, block.signature = b"orderer", bytes([n]) * 64
        block.codes = [ValidationCode.VALID, ValidationCode.MVCC_READ_CONFLICT, ValidationCode(n)]
        blocks.append(block)
        previous = block.header.hash()
    return blocks


def filled(path: Path, blocks: list[Block]) -> None:
    store = BlockStore(path, fsync=False)
    for block in blocks:
        store.append(block)
    store.close()


def test_blocks_read_back_as_written_after_reopening(tmp_path: Path) -> None:
    blocks = chain(4)
    filled(tmp_path / "blocks.log", blocks)
    store = BlockStore(tmp_path / "blocks.log")
    try:
        assert store.height() == 4
        assert store.truncated_bytes == 0
        assert [b.to_bytes() for b in store] == [b.to_bytes() for b in blocks]
        assert store.get(2).codes == blocks[2].codes
        assert store.last_hash() == blocks[3].header.hash()
        with pytest.raises(StorageError, match="no block 4"):
            store.get(4)
        with pytest.raises(StorageError, match="no block -1"):
            store.read_raw(-1)
    finally:
        store.close()


def test_empty_store(tmp_path: Path) -> None:
    store = BlockStore(tmp_path / "sub" / "blocks.log")
    try:
        assert store.height() == 0
        assert store.last_hash() is None
        assert list(store) == []
    finally:
        store.close()


@pytest.mark.parametrize("number", [0, 1, 3, 5])
def test_a_block_with_the_wrong_number_is_refused_and_nothing_is_written(
    tmp_path: Path, number: int
) -> None:
    blocks = chain(6)
    path = tmp_path / "blocks.log"
    store = BlockStore(path, fsync=False)
    try:
        store.append(blocks[0])
        store.append(blocks[1])
        size = path.stat().st_size
        with pytest.raises(StorageError, match=f"append of block {number} to a store of height 2"):
            store.append(blocks[number])
        assert store.height() == 2
        assert path.stat().st_size == size
        store.append(blocks[2])
        assert store.get(2).to_bytes() == blocks[2].to_bytes()
    finally:
        store.close()


def reopen_after_damage(path: Path, tail: bytes) -> tuple[int, int, list[bytes]]:
    with path.open("ab") as f:
        f.write(tail)
    store = BlockStore(path, fsync=False)
    try:
        return store.height(), store.truncated_bytes, [b.to_bytes() for b in store]
    finally:
        store.close()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.data())
def test_a_torn_append_is_cut_and_the_store_carries_on(data: st.DataObject) -> None:
    blocks = chain(4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blocks.log"
        filled(path, blocks[:3])
        intact = path.read_bytes()
        # Bytes of the fourth record, as a crash in the middle of writing it would leave them.
        scratch = Path(tmp) / "scratch.log"
        filled(scratch, blocks)
        record = scratch.read_bytes()[len(intact) :]
        cut = data.draw(st.integers(1, len(record) - 1), label="bytes of the record written")
        height, truncated, read = reopen_after_damage(path, record[:cut])
        assert height == 3
        assert truncated == cut
        assert read == [b.to_bytes() for b in blocks[:3]]
        assert path.read_bytes() == intact  # the torn bytes are gone from the file

        store = BlockStore(path, fsync=False)
        try:
            store.append(blocks[3])
        finally:
            store.close()
        store = BlockStore(path, fsync=False)
        try:
            assert [b.to_bytes() for b in store] == [b.to_bytes() for b in blocks]
        finally:
            store.close()


def test_a_last_record_with_a_bad_checksum_is_cut(tmp_path: Path) -> None:
    blocks = chain(3)
    path = tmp_path / "blocks.log"
    filled(path, blocks[:2])
    good = path.stat().st_size
    filled(path, blocks[2:])
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # the last block's payload was not fully on disk
    path.write_bytes(bytes(raw))
    store = BlockStore(path, fsync=False)
    try:
        assert store.height() == 2
        assert store.truncated_bytes == len(raw) - good
    finally:
        store.close()


@pytest.mark.parametrize("zeros", [8, 64, 4096])
def test_a_zero_filled_tail_is_cut_not_read_as_blocks(tmp_path: Path, zeros: int) -> None:
    # A file extended by the filesystem before a crash reads back as zeros: a zero length and a
    # zero checksum, which is also the CRC-32 of an empty payload. That is no block.
    blocks = chain(2)
    path = tmp_path / "blocks.log"
    filled(path, blocks)
    height, truncated, read = reopen_after_damage(path, bytes(zeros))
    assert (height, truncated) == (2, zeros)
    assert read == [b.to_bytes() for b in blocks]


def test_a_damaged_block_followed_by_later_blocks_is_refused_not_cut(tmp_path: Path) -> None:
    # Only the last append can be torn by a crash; damage earlier is corruption of blocks that
    # were acknowledged, and silently dropping everything after it would lose them.
    blocks = chain(3)
    path = tmp_path / "blocks.log"
    filled(path, blocks[:1])
    first = path.stat().st_size
    filled(path, blocks[1:])
    raw = bytearray(path.read_bytes())
    raw[first + 20] ^= 0xFF  # inside block 1's payload; block 2 follows intact
    path.write_bytes(bytes(raw))
    with pytest.raises(StorageError, match=r"block 1 .* damaged and later blocks follow"):
        BlockStore(path, fsync=False)
    assert path.read_bytes() == bytes(raw)  # nothing was cut
