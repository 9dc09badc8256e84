"""The node API's incentive routes (``/v1/incentives/…``): campaigns, reports, the auditor's
view, member accounts, dry runs, redemption and — where the node runs an awarder — awards.

Every route takes a signed member request (docs/api.md, "Authentication"). Queries run with the
*requester's* certificate, so the contract decides who sees what (the auditor view is for the
sponsor's and the auditor's members only). A redemption is submitted by this node's gateway but
authorised only by the member's signature (its per-campaign key). A refused award or redemption
is a ``200`` with ``{"status": "rejected", "code": …}`` — invalid is a result; malformed input is
a ``400``/``422`` and nothing is written. Points are account-bound: there is no transfer route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from careledger.access import Rule, access
from careledger.api.app import Member, NodeApp
from careledger.api.codec import b64d, b64e, to_json
from careledger.api.service import NodeService
from careledger.contracts.incentives import NAMESPACE
from careledger.contracts.incentives.terms import rule_of
from careledger.errors import AccessDenied, NotFound
from careledger.identity.msp import MemberCert, Role
from careledger.incentives.awarding import AuditorCosigner, Awarder, load_campaign
from careledger.incentives.evidence import (
    ClaimEvidence,
    CredentialEvidence,
    EvidenceDigests,
    EvidenceVerdict,
)
from careledger.incentives.wallet import HolderProof

PREFIX = "/v1/incentives"
AWARDER_STATE = "incentive_awarder"
"""``app.state`` attribute holding the node's :class:`Awarder` (set by the embedding code)."""
COSIGNER_STATE = "incentive_cosigner"
"""``app.state`` attribute holding an auditor node's :class:`AuditorCosigner`."""
_CAMPAIGN = r"^[a-z][a-z0-9-]{2,39}$"
_HEX64 = r"^[0-9a-f]{64}$"
CampaignPath = Annotated[str, Path(pattern=_CAMPAIGN)]
PseudonymPath = Annotated[str, Path(pattern=_HEX64)]


async def _own_member(request: Request, member: Member) -> MemberCert:
    """A signed request by a member of the node's own organisation (checked before the body)."""
    org = str(request.app.state.service.org)
    if member.org != org or member.role not in (Role.CLIENT, Role.ADMIN):
        raise AccessDenied(f"only {org}'s client and admin members award through this node")
    return member


OwnMember = Annotated[MemberCert, Depends(_own_member)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedeemIn(_Body):
    pseudonym: str = Field(pattern=_HEX64)
    item: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    quantity: int = Field(ge=1, le=100)
    signature: str = Field(max_length=86, description="base64url signature by the campaign key")


class RedeemCheckIn(_Body):
    pseudonym: str = Field(pattern=_HEX64)
    item: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    quantity: int = Field(ge=1, le=100)
    at: int = Field(ge=0, le=253_402_300_799_999, description="ms since the epoch")


class HolderIn(_Body):
    verification_method: str = Field(max_length=512)
    signature: str = Field(max_length=128, description="base64url")


class AwardIn(_Body):
    rule: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    member_key: str = Field(pattern=_HEX64, description="the member's campaign public key")
    credential: dict[str, Any] = Field(
        description="the W3C VC presented as evidence (for a paid claim: the member's coverage "
        "credential from the payer)"
    )
    holder: HolderIn
    claim_key: str | None = Field(
        default=None, pattern=_HEX64, description="a paid claim's key (paid_claim rules)"
    )
    claim_line: int | None = Field(
        default=None, ge=1, le=999, description="the claim line (default: the first listed)"
    )
    points: int | None = Field(default=None, ge=1, le=1_000_000_000)
    dry_run: bool = False


class CosignIn(_Body):
    rule: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    member_key: str = Field(pattern=_HEX64)
    credential: dict[str, Any]
    holder: HolderIn
    claim_key: str | None = Field(default=None, pattern=_HEX64)
    claim_line: int | None = Field(default=None, ge=1, le=999)
    points: int = Field(ge=1, le=1_000_000_000)
    nullifier: str = Field(pattern=_HEX64)
    holder_tag: str = Field(pattern=_HEX64)
    evidence_digest: str = Field(pattern=_HEX64)


def _evidence(body: AwardIn | CosignIn, proof: HolderProof) -> CredentialEvidence | ClaimEvidence:
    """A credential, or a paid claim shown with the member's coverage credential."""
    if body.claim_key is None:
        return CredentialEvidence(body.credential, proof)
    return ClaimEvidence(body.claim_key, body.credential, proof, body.claim_line)


def add_incentive_routes(
    node_app: FastAPI | NodeApp, service: NodeService, *, awarder: Awarder | None = None
) -> None:
    """Mount the incentive routes on the node API (:func:`careledger.api.app.create_app`'s
    answer or its FastAPI app). ``POST …/awards`` needs an awarder: ``awarder`` here, or one set
    later as ``app.state.incentive_awarder``; ``POST …/cosign`` a co-signer,
    ``app.state.incentive_cosigner``."""
    app = node_app.app if isinstance(node_app, NodeApp) else node_app
    if not isinstance(app, FastAPI):
        raise TypeError("add_incentive_routes needs the node API's FastAPI application")

    def ask(member: MemberCert, function: str, args: list[Any]) -> Any:
        return to_json(service.peer.query(NAMESPACE, function, args, member))

    @app.get(f"{PREFIX}/campaigns", tags=["incentives"], openapi_extra=access(Rule.MEMBER))
    async def campaigns(member: Member) -> list[str]:
        """Every campaign id (a campaign is a token id; points are account-bound)."""
        result: list[str] = ask(member, "campaigns", [])
        return result

    @app.get(
        f"{PREFIX}/campaigns/{{campaign}}", tags=["incentives"], openapi_extra=access(Rule.MEMBER)
    )
    async def campaign(member: Member, campaign: CampaignPath) -> dict[str, Any]:
        """A campaign's terms, sponsor, freeze, and ``transferable: false``."""
        result: dict[str, Any] = ask(member, "campaign", [campaign])
        return result

    @app.get(
        f"{PREFIX}/campaigns/{{campaign}}/report",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def report(member: Member, campaign: CampaignPath) -> dict[str, Any]:
        """Funded, awarded, redeemed, expired, clawed back, remaining; distinct members
        suppressed below 11."""
        result: dict[str, Any] = ask(member, "totals", [campaign])
        return result

    @app.get(
        f"{PREFIX}/campaigns/{{campaign}}/awards",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def awards(member: Member, campaign: CampaignPath) -> list[dict[str, Any]]:
        """The auditor view: every award with its nullifier and evidence digest."""
        result: list[dict[str, Any]] = ask(member, "awards", [campaign])
        return result

    @app.get(
        f"{PREFIX}/campaigns/{{campaign}}/accounts/{{pseudonym}}",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def account(
        member: Member, campaign: CampaignPath, pseudonym: PseudonymPath
    ) -> dict[str, Any]:
        """A member's balance, totals and expiry, by pseudonym."""
        result: dict[str, Any] = ask(member, "account", [campaign, pseudonym])
        return result

    @app.get(
        f"{PREFIX}/campaigns/{{campaign}}/accounts/{{pseudonym}}/history",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def history(
        member: Member, campaign: CampaignPath, pseudonym: PseudonymPath
    ) -> list[dict[str, Any]]:
        """Every committed change of a member's account."""
        result: list[dict[str, Any]] = ask(member, "history", [campaign, pseudonym])
        return result

    @app.post(
        f"{PREFIX}/campaigns/{{campaign}}/redeem",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def redeem(member: Member, campaign: CampaignPath, body: RedeemIn) -> dict[str, Any]:
        """Burn points for catalogue items, signed by the member's campaign key."""
        signature = b64d(body.signature, "signature", 64)
        args = [campaign, body.pseudonym, body.item, body.quantity, signature]
        done = await service.gateway.submit(NAMESPACE, "redeem", args, retries=0)
        return {**to_json(done.result), "tx_id": done.tx_id}

    @app.post(
        f"{PREFIX}/campaigns/{{campaign}}/redeem/check",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def redeem_check(
        member: Member, campaign: CampaignPath, body: RedeemCheckIn
    ) -> dict[str, Any]:
        """Dry run of a redemption at ``at``: would it pass, and why not. Writes nothing."""
        args = [campaign, body.pseudonym, body.item, body.quantity, body.at]
        result: dict[str, Any] = ask(member, "check_redeem", args)
        return result

    @app.post(
        f"{PREFIX}/campaigns/{{campaign}}/awards",
        tags=["incentives"],
        openapi_extra=access(Rule.OWN_ORG),
    )
    async def award(
        request: Request, member: OwnMember, campaign: CampaignPath, body: AwardIn
    ) -> dict[str, Any]:
        """Verify the evidence and award (``dry_run``: check only). The sponsor's members, on a
        node that runs an awarder."""
        current: Awarder | None = awarder or getattr(request.app.state, AWARDER_STATE, None)
        if current is None:
            raise NotFound("this node runs no incentive awarder (see docs/incentives.md)")
        proof = HolderProof(
            body.holder.verification_method, b64d(body.holder.signature, "holder.signature", 64)
        )
        evidence = _evidence(body, proof)
        run = current.check if body.dry_run else current.award
        outcome = await run(campaign, body.rule, evidence, body.member_key, body.points)
        return {
            "status": outcome.status,
            "code": None if outcome.code is None else str(outcome.code),
            "cap": outcome.cap,
            "points": outcome.points,
            "balance": outcome.balance,
            "tx_id": outcome.tx_id,
            "message": outcome.message,
        }

    @app.post(
        f"{PREFIX}/campaigns/{{campaign}}/cosign",
        tags=["incentives"],
        openapi_extra=access(Rule.MEMBER),
    )
    async def cosign(
        request: Request, member: Member, campaign: CampaignPath, body: CosignIn
    ) -> dict[str, Any]:
        """An auditor node re-checks the evidence and co-signs the award the sponsor proposes
        (the sponsor's members only)."""
        cosigner: AuditorCosigner | None = getattr(request.app.state, COSIGNER_STATE, None)
        if cosigner is None:
            raise NotFound("this node runs no incentive co-signer (see docs/incentives.md)")
        found = await load_campaign(service.gateway, campaign)
        if member.org != found.sponsor:
            raise AccessDenied(f"only {found.sponsor}'s members ask to co-sign {campaign}")
        proof = HolderProof(
            body.holder.verification_method, b64d(body.holder.signature, "holder.signature", 64)
        )
        proposed = EvidenceDigests(body.nullifier, body.holder_tag, body.evidence_digest)
        answer = await cosigner.cosign(
            found,
            rule_of(found.spec, body.rule),
            _evidence(body, proof),
            body.member_key,
            body.points,
            proposed,
        )
        if isinstance(answer, EvidenceVerdict):
            code = None if answer.code is None else str(answer.code)
            return {"status": "rejected", "code": code, "message": answer.message}
        return {
            "status": "cosigned",
            "identity": b64e(answer.identity),
            "signature": b64e(answer.signature),
        }
