"""Fuzzing the signed-request headers (``careledger.api.auth``) a node checks on every read.

Headers come from anyone who can reach the node. Refusal is ``NotAuthenticated``; a request
is accepted only when it is exactly a member's signature over method, target, time and body.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st

from careledger.api.auth import (
    IDENTITY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_request,
    sign_request,
)
from careledger.api.codec import b64d
from careledger.identity.msp import Membership
from careledger.ledger.block import decode_block
from careledger.validation.genesis import genesis_membership, parse_genesis_tx
from tests.fuzz.harness import budgets, fuzz, mutated, seeds
from tests.harness import new_consortium

NAMES = (IDENTITY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
header_text = st.text(max_size=200) | st.from_regex(r"[A-Za-z0-9_-]{0,6000}", fullmatch=True)


def _membership(directory: Path) -> tuple[Membership, dict[str, str]]:
    config = new_consortium(directory)
    membership = genesis_membership(parse_genesis_tx(config.genesis().transactions[0]))
    signed = sign_request(config.member("Org1", "client0"), "GET", "/v1/state", b"")
    return membership, signed


@budgets
def test_signed_request_headers(budget: settings, tmp_path: Path) -> None:
    membership, signed = _membership(tmp_path / "c")
    stored = [json.loads(raw) for raw in seeds("signed_request")]

    @st.composite
    def headers(draw: st.DrawFn) -> dict[str, str]:
        base = dict(draw(st.sampled_from([signed, *stored])))
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=3)):
            if draw(st.booleans()):
                base.pop(name, None)
            else:
                base[name] = draw(header_text)
        if draw(st.booleans()):  # byte-level damage to one header, as text
            name = draw(st.sampled_from(NAMES))
            raw = draw(mutated([base.get(name, "").encode()]))
            base[name] = raw.decode("latin-1")
        return base

    requests = st.tuples(
        st.sampled_from(["GET", "POST", "get", "PUT"]),
        st.sampled_from(["/v1/state", "/v1/state?x=1", "/", ""]) | st.text(max_size=40),
        headers(),
        st.binary(max_size=64),
    )

    def check(request: tuple[str, str, dict[str, str], bytes]) -> object:
        method, target, found, body = request
        cert = check_request(membership, method, target, found, body)
        # Accepted only when it is exactly the member's signed request.
        assert (method.upper(), target, body) == ("GET", "/v1/state", b""), request
        assert b64d(found[SIGNATURE_HEADER], "sig", 64) == b64d(signed[SIGNATURE_HEADER], "s", 64)
        return cert

    fuzz(budget, "signed_request", check, requests, with_seeds=False)


def test_signed_request_is_accepted(tmp_path: Path) -> None:
    """The seed the fuzzer damages is itself accepted (or the fuzzer tests nothing)."""
    membership, signed = _membership(tmp_path / "c")
    assert check_request(membership, "GET", "/v1/state", signed, b"").org == "Org1"
    assert decode_block(new_consortium(tmp_path / "d").genesis().to_bytes()).number == 0
