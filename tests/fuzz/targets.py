"""Every parser fuzzed, as a function of one ``bytes`` input: what the atheris harnesses call
(``tests/fuzz/atheris/``). Refusal with a CareLedger error is fine; anything else is a crash.

Targets that need a world (a consortium's membership, a verifier's keys, a FHIR store) build
it once, lazily, in a temporary directory.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from careledger.api.auth import check_request
from careledger.api.codec import to_json
from careledger.contracts.tokens import Account
from careledger.contracts.values import decode_value
from careledger.crypto import encoding
from careledger.daemon.config import load_node_config
from careledger.fhir.bundles import process_bundle
from careledger.fhir.resources import validate
from careledger.fhir.service import FhirService, decode_json
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.ledger.block import decode_block
from careledger.ledger.transaction import decode_envelope, decode_proposal, decode_response
from careledger.node.consortium import load_config
from careledger.validation.chain import verify_chain
from careledger.validation.genesis import genesis_membership, parse_genesis_tx


@functools.cache
def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="careledger-fuzz-"))


def _write(name: str, raw: bytes) -> Path:
    path = _scratch() / name
    path.write_bytes(raw)
    return path


def response(raw: bytes) -> object:
    decoded = decode_response(raw)
    return json.dumps(to_json([decoded.result, [(e.name, e.payload) for e in decoded.events]]))


def block_file(raw: bytes) -> object:
    return verify_chain(_write("blocks.log", raw))


def block_record(raw: bytes) -> bytes:
    return struct.pack(">II", len(raw), zlib.crc32(raw)) + raw


@functools.cache
def _membership() -> Any:
    from tests.harness import new_consortium

    config = new_consortium(_scratch() / "consortium")
    return genesis_membership(parse_genesis_tx(config.genesis().transactions[0]))


def signed_request(raw: bytes) -> object:
    """The input is a JSON object of headers (the corpus form); other bytes are one header."""
    try:
        headers = json.loads(raw)
    except ValueError:
        headers = None
    if not isinstance(headers, dict):
        text = raw.decode("latin-1")
        headers = {"X-CareLedger-Identity": text, "X-CareLedger-Timestamp": text[:16] or "0",
                   "X-CareLedger-Signature": text}  # fmt: skip
    headers = {str(k): str(v) for k, v in headers.items()}
    return check_request(_membership(), "GET", "/v1/state", headers, b"")


@functools.cache
def _world() -> Any:
    from tests.fuzz.test_fuzz_credentials import World

    return World()


def sd_jwt(raw: bytes) -> object:
    world = _world()
    return world.verifier.verify_sd_jwt(raw.decode("utf-8", "replace"), world.request())


def credential(raw: bytes) -> object:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return _world().verifier.verify_credential(doc) if isinstance(doc, dict) else None


@functools.cache
def _fhir() -> FhirService:
    store = SQLiteResourceStore(_scratch() / "fhir.sqlite", MasterKey(os.urandom(32)))
    return FhirService(store, base_url="http://127.0.0.1/fhir")


def fhir_resource(raw: bytes) -> object:
    return validate(decode_json(raw))


def fhir_bundle(raw: bytes) -> object:
    return process_bundle(_fhir(), decode_json(raw))


def node_toml(raw: bytes) -> object:
    return load_node_config(_write("node.toml", raw))


def consortium_toml(raw: bytes) -> object:
    _write("consortium.toml", raw)
    return load_config(_scratch())


TARGETS: dict[str, Callable[[bytes], object]] = {
    "proposal": decode_proposal,
    "canonical_cbor": encoding.decode,
    "envelope": decode_envelope,
    "response": response,
    "block": decode_block,
    "state_value": lambda raw: decode_value(raw, Account),
    "block_file": block_file,
    "signed_request": signed_request,
    "sd_jwt": sd_jwt,
    "credential": credential,
    "fhir_resource": fhir_resource,
    "fhir_bundle": fhir_bundle,
    "node_toml": node_toml,
    "consortium_toml": consortium_toml,
}
