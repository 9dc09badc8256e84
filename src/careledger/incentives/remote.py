"""Co-signing across organisations: the sponsor's :class:`~careledger.incentives.awarding.
Awarder` asks the auditor organisation's node (``POST /v1/incentives/campaigns/{id}/cosign``,
a signed request as the sponsor's member), which re-checks the evidence with its own verifier
and peer and answers with its member's co-signature or the refusal's code."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx

from careledger.api.auth import sign_request
from careledger.api.client import raise_for_error
from careledger.api.codec import b64d, b64e
from careledger.contracts.incentives.terms import Campaign, Rule
from careledger.errors import InvalidInput
from careledger.identity.msp import LocalIdentity
from careledger.incentives.awarding import Cosignature
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import (
    ClaimEvidence,
    CredentialEvidence,
    EvidenceDigests,
    EvidenceVerdict,
)
from careledger.incentives.routes import PREFIX


class RemoteCosigner:
    """A :class:`~careledger.incentives.awarding.Cosigner` that is another organisation's node.

    ``aclose()`` when done. Faults reaching the node raise (``OSError``, the node's error);
    a refusal of the evidence is a verdict.
    """

    def __init__(
        self,
        base_url: str,
        identity: LocalIdentity,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.identity = identity
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, verify=verify
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def cosign(
        self,
        campaign: Campaign,
        rule: Rule,
        evidence: Any,
        member_key: str,
        points: int,
        proposed: EvidenceDigests,
    ) -> Cosignature | EvidenceVerdict:
        if isinstance(evidence, ClaimEvidence):
            credential: Any = evidence.coverage
            claim = {"claim_key": evidence.claim_key, "claim_line": evidence.line}
        elif isinstance(evidence, CredentialEvidence):
            credential, claim = evidence.credential, {}
        else:
            raise InvalidInput("remote co-signing takes credential or paid-claim evidence")
        body = {
            "rule": rule.id,
            "member_key": member_key,
            "credential": dict(credential),
            **claim,
            "holder": {
                "verification_method": evidence.holder.verification_method,
                "signature": b64e(evidence.holder.signature),
            },
            "points": points,
            "nullifier": proposed.nullifier,
            "holder_tag": proposed.holder_tag,
            "evidence_digest": proposed.evidence_digest,
        }
        content = json.dumps(body).encode()
        path = f"{PREFIX}/campaigns/{campaign.spec.id}/cosign"
        headers = sign_request(self.identity, "POST", path, content)
        headers["content-type"] = "application/json"
        response = await self._http.post(path, content=content, headers=headers)
        raise_for_error(response, "auditor node")
        answer = response.json()
        if answer.get("status") == "cosigned":
            return Cosignature(
                b64d(answer["identity"], "identity", 4096),
                b64d(answer["signature"], "signature", 64),
            )
        return EvidenceVerdict(RejectCode(answer["code"]), str(answer.get("message", "")))
