"""Fuzzing the CBOR parsers: envelopes, proposals, responses, blocks, state values, block files.

Every one of these takes bytes another organisation (or a damaged disk) controls. Refusal is an
``EncodingError`` (or a ``ChainVerificationError`` for a block file); hostile length prefixes
and deep nesting must be refused without allocating or recursing without bound.
"""

from __future__ import annotations

import json
import struct
import tempfile
import zlib
from pathlib import Path

import cbor2
from hypothesis import settings
from hypothesis import strategies as st

from careledger.api.codec import to_json
from careledger.contracts.tokens import Account
from careledger.contracts.values import decode_value
from careledger.crypto import encoding
from careledger.ledger.block import decode_block
from careledger.ledger.transaction import (
    decode_envelope,
    decode_proposal,
    decode_response,
)
from careledger.validation.chain import verify_chain
from tests.fuzz.harness import budgets, fuzz, inputs

#: CBOR heads claiming huge lengths (bytes, text, array, map; 8-byte and 4-byte arguments),
#: indefinite-length openers, and semantic tags the decoder interprets (date, bignum,
#: decimal, shared references, sets, regular expressions).
HOSTILE_HEADS = (
    [bytes([major << 5 | 27]) + struct.pack(">Q", (1 << 63) - 1) for major in (2, 3, 4, 5)]
    + [bytes([major << 5 | 26]) + struct.pack(">I", 0xFFFFFFFF) for major in (2, 3, 4, 5)]
    + [
        b"\x9f" * 64,
        b"\x81" * 5000 + b"\x00",
        b"\xa1\x00" * 5000 + b"\x00",
        b"\xd8\x1c" * 2000 + b"\x00",
        bytes.fromhex("d81c81d81d00"),  # a list that contains itself (shared reference)
        bytes.fromhex("c11b7fffffffffffffff"),  # epoch date far out of range
        bytes.fromhex("c4821b7fffffffffffffff01"),  # decimal fraction, huge exponent
        bytes.fromhex("c5821b7fffffffffffffff01"),  # bigfloat, huge exponent
        bytes.fromhex("d8236a28612a292a2a2a2a2a2a"),  # regular expression (a*)*****
        bytes.fromhex("d9010281a0"),  # a set holding a map (unhashable)
    ]
)

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.binary(max_size=64)
    | st.text(max_size=32),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(-5, 5), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    """Well-formed CBOR of arbitrary shape, or a hostile head, maybe inside a valid prefix."""
    if draw(st.booleans()):
        return bytes(cbor2.dumps(draw(cbor_values), canonical=draw(st.booleans())))
    head = draw(st.sampled_from(HOSTILE_HEADS))
    prefix = draw(st.sampled_from([b"", b"\x81", b"\xa1\x68proposal", b"\xa1\x66header"]))
    return prefix + head + draw(st.binary(max_size=16))


CBOR = hostile()

#: A cyclic result (shared reference): decoded, then unrenderable as JSON (RecursionError).
CYCLIC_RESULT = (
    b"\xa4etx_idx@"
    + b"a" * 64
    + b"fresult"
    + bytes.fromhex("d81c81d81d00")
    + b"frwsets\x80fevents\x80"
)


@st.composite
def hostile_response(draw: st.DrawFn) -> bytes:
    """A response map whose result (or an event payload) is hostile CBOR."""
    value = draw(st.sampled_from(HOSTILE_HEADS) | CBOR)
    if draw(st.booleans()):
        return b"\xa4etx_idx@" + b"a" * 64 + b"fresult" + value + b"frwsets\x80fevents\x80"
    event = b"\xa2dnameaxgpayload" + value
    return b"\xa4etx_idx@" + b"a" * 64 + b"fresult\xf6frwsets\x80fevents\x81" + event


@budgets
def test_canonical_decoder(budget: settings) -> None:
    fuzz(budget, "proposal", encoding.decode, inputs("proposal", CBOR))


@budgets
def test_envelope(budget: settings) -> None:
    fuzz(budget, "envelope", decode_envelope, inputs("envelope", CBOR))


@budgets
def test_proposal(budget: settings) -> None:
    fuzz(budget, "proposal", decode_proposal, inputs("proposal", CBOR))


def _response_as_json(raw: bytes) -> str:
    """What the node API shows of a committed response: its result and events as JSON."""
    response = decode_response(raw)
    shown = [response.result, [(e.name, e.payload) for e in response.events]]
    return json.dumps(to_json(shown))


@budgets
def test_response(budget: settings) -> None:
    fuzz(
        budget,
        "response",
        _response_as_json,
        inputs("response", CBOR | hostile_response()),
        regressions=[CYCLIC_RESULT],
    )


@budgets
def test_block(budget: settings) -> None:
    fuzz(budget, "block", decode_block, inputs("block", CBOR))


@budgets
def test_state_value(budget: settings) -> None:
    fuzz(
        budget,
        "state_value",
        lambda raw: decode_value(raw, Account),
        inputs("state_value", CBOR),
        regressions=[b"\xa1atgAccount"],  # a tagged value without "v": was a KeyError
    )


def _record(payload: bytes) -> bytes:
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


@budgets
def test_block_file_verify(budget: settings) -> None:
    """``careledger verify`` over a damaged or forged block file: a ChainVerificationError."""
    block_files = inputs("block_file") | inputs("block").map(_record)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blocks.log"

        def verify(raw: bytes) -> object:
            path.write_bytes(raw)
            return verify_chain(path)

        fuzz(budget, "block_file", verify, block_files)
