"""``POST /v1/submit-batch``: many signed proposals in one request, one outcome per entry."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from careledger.api.auth import sign_request
from careledger.api.client import sign_proposal
from careledger.api.codec import b64e
from careledger.api.models import SubmitOut
from careledger.api.submit_batch import MAX_SUBMIT_BATCH
from careledger.errors import CareLedgerError, CryptoError, InvalidInput, MembershipError
from careledger.identity.msp import Role
from careledger.ledger.codes import ValidationCode
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import asgi_node
from tests.harness import impostor


def _raw(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")


def _body(items: list[tuple[bytes, bytes]]) -> bytes:
    entries = [{"proposal": b64e(p), "signature": b64e(s)} for p, s in items]
    return json.dumps({"items": entries}).encode()


def test_a_batch_commits_its_valid_entries_and_refuses_the_others_each_with_a_reason(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (net, _app, client), client("Org2") as org2:
            me = consortium.member("Org2", "client0")
            good = [sign_proposal(me, "tokens", "open", [f"acct-{i}"]) for i in range(5)]
            forged = sign_proposal(me, "tokens", "open", ["forged"])
            forged = (forged[0], bytes(64))
            outsider = sign_proposal(
                impostor("Org1", "mallory", Role.CLIENT), "tokens", "open", ["m"]
            )
            refused_by_contract = sign_proposal(me, "tokens", "transfer", ["nobody", "acct-0", 1])
            items = [*good[:3], forged, outsider, good[0], refused_by_contract, *good[3:]]
            out = await org2.submit_batch(items)
            assert len(out) == len(items)
            committed = [o for o in out if isinstance(o, SubmitOut)]
            assert [o.code for o in committed] == ["VALID"] * 5
            assert isinstance(out[3], CryptoError)
            assert "signature" in str(out[3])
            assert isinstance(out[4], MembershipError)
            assert isinstance(out[5], InvalidInput)
            assert "twice" in str(out[5])
            assert isinstance(out[6], CareLedgerError)
            assert not isinstance(out[6], SubmitOut)
            peer = net.peers["Org1"]
            for o in committed:
                record = peer.state.tx(o.tx_id)
                assert record is not None
                assert record.code == ValidationCode.VALID
            assert await org2.evaluate("tokens", "balance", ["acct-4"]) == 0

            # The same batch again (a replay): every entry refused, nothing committed twice.
            height = peer.height()
            again = await org2.submit_batch(good)
            assert all(isinstance(o, InvalidInput) for o in again), again
            assert all("already committed" in str(o) for o in again)
            assert peer.height() == height

    asyncio.run(main())


def test_oversized_malformed_and_unsigned_batches_are_refused(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (net, app, client), client("Org2") as org2:
            me = consortium.member("Org2", "client0")
            proposal = sign_proposal(me, "tokens", "open", ["x"])
            height = net.peers["Org1"].height()
            over = await org2.submit_batch([proposal] * (MAX_SUBMIT_BATCH + 1))
            assert all(isinstance(o, InvalidInput) and "over the limit" in str(o) for o in over)
            assert net.peers["Org1"].height() == height, "nothing of an oversized batch ran"

            async with _raw(app) as raw:
                body = _body([proposal])
                unsigned = await raw.post("/v1/submit-batch", content=body)
                assert unsigned.status_code == 401
                tiny = {"proposal": "", "signature": ""}
                too_many = json.dumps({"items": [tiny] * 1025}).encode()
                for bad in (b"not json", b'{"items": [{"proposal": 1}]}', b"{}", too_many):
                    headers = sign_request(me, "POST", "/v1/submit-batch", bad)
                    reply = await raw.post("/v1/submit-batch", content=bad, headers=headers)
                    assert reply.status_code in (400, 422), reply.text
                # Bad base64 in one entry: that entry only.
                entries = [{"proposal": "%%%", "signature": "AA"}, json.loads(body)["items"][0]]
                mixed = json.dumps({"items": entries}).encode()
                headers = sign_request(me, "POST", "/v1/submit-batch", mixed)
                headers["content-type"] = "application/json"
                reply = await raw.post("/v1/submit-batch", content=mixed, headers=headers)
                assert reply.status_code == 200, reply.text
                first, second = reply.json()["items"]
                assert first["type"] == "InvalidInput"
                assert "base64url" in first["error"]
                assert second["code"] == "VALID"

    asyncio.run(main())


def test_mvcc_conflicts_in_one_batch_are_reported_per_entry(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (_net, _app, client), client("Org1", "admin") as admin:
            await admin.submit("tokens", "mint", ["pool", 100])
            opened = await admin.submit_batch(
                [sign_proposal(admin.identity, "tokens", "open", [f"t{i}"]) for i in range(6)]
            )
            assert all(isinstance(o, SubmitOut) for o in opened), opened
            me = admin.identity
            items = [
                sign_proposal(me, "tokens", "transfer", ["pool", f"t{i}", 1]) for i in range(6)
            ]
            out = await admin.submit_batch(items)
            codes = [
                o.code if isinstance(o, SubmitOut) else getattr(o, "code", repr(o)) for o in out
            ]
            # Same key read by all six in one block: one commits, the others conflict.
            assert codes.count("VALID") >= 1
            assert set(codes) <= {"VALID", "MVCC_READ_CONFLICT"}, codes

    asyncio.run(main())
