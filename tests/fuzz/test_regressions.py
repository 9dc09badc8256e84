"""Findings of the fuzzers, checked where a user would notice them (the decoders' own
regressions are ``@example`` inputs of the fuzz tests)."""

from __future__ import annotations

import asyncio
import os
import time

from careledger.api.service import NodeService
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import Envelope, Proposal, tx_id_of
from careledger.node.consortium import ConsortiumConfig
from tests.harness import codes_of, order, peers_of, running


def test_a_response_with_a_self_referencing_result_is_malformed_and_events_still_render(
    consortium: ConsortiumConfig,
) -> None:
    """Endorsers of two organisations (enough for the policy) sign a response whose result is
    a CBOR list that contains itself. It used to be VALID, and every node's events view then
    failed with RecursionError; now it is MALFORMED_PAYLOAD and the views render."""

    async def main() -> None:
        async with running(consortium) as net:
            creator = consortium.member("Org1", "client0")
            proposal = Proposal(
                contract="tokens",
                function="mint",
                args=["acct-cyclic", 1],
                creator=creator.identity,
                nonce=os.urandom(16),
                timestamp=int(time.time() * 1000),
            ).to_bytes()
            tx_id = tx_id_of(proposal)
            response = (
                b"\xa4etx_idx@" + tx_id.encode() + b"fresult" + bytes.fromhex("d81c81d81d00")
                + b"frwsets\x80fevents\x80"
            )  # fmt: skip
            from careledger.ledger.transaction import Endorsement

            endorsements = [
                Endorsement(p.identity, p.sign(response))
                for p in peers_of(consortium, "Org1", "Org2")
            ]
            envelope = Envelope(proposal, creator.sign(proposal), response, endorsements)
            await order(net, envelope)
            assert codes_of(net, tx_id) == [ValidationCode.MALFORMED_PAYLOAD]
            service = NodeService(net.peers["Org1"], net.gateway("Org1"))
            try:
                events = service.commit_events(0)
                seen = 0
                async for event in events:
                    if event is None:
                        break
                    event.model_dump_json()  # what /v1/events sends
                    seen += 1
                    if seen >= net.peers["Org1"].height():
                        break
                await events.aclose()
            finally:
                service.close()
            assert seen == net.peers["Org1"].height()

    asyncio.run(main())
