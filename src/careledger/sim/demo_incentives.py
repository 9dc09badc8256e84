"""The incentives chapter of ``careledger demo``: a payer funds a flu-shot campaign; the patient
presents an immunization credential and is rewarded once; a second try is refused; the yearly cap
bites; points are redeemed; the sponsor's report (:func:`careledger.incentives.story.
flu_shot_campaign`). Then a wellness-visit campaign rewards a claim the payer paid
(:mod:`careledger.sim.wellness`): the payer chapter's member presents Hospital's ``G0439`` claim
with their coverage credential and is rewarded once; the same claim again and the member's MRI
claim (no listed code) are refused. Everything is synthetic.
"""

from __future__ import annotations

from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import flu_shot_campaign
from careledger.incentives.wallet import MemberWallet
from careledger.sim.demo_payer import MEMBER, PAYER, PROVIDER, PayerDesks
from careledger.sim.story import Chapter, DemoContext
from careledger.sim.wellness import (
    Member,
    claim_awarder,
    coverage_issuer,
    visit_claim,
    wellness_spec,
)

WELLNESS = "wellness-2026"
RULE = "wellness-visit"


async def flu_shot(ctx: DemoContext) -> str:
    story = await flu_shot_campaign(ctx.net, sponsor="Payer", clinic="Hospital", auditor="Lab")
    ctx.facts["incentives"] = story.codes
    return "\n    ".join(story.lines)


async def wellness_visit(ctx: DemoContext) -> str:
    """Needs the payer chapter (its plan, member and claims desk)."""
    desks = ctx.facts["payer"]
    assert isinstance(desks, PayerDesks)
    net = ctx.net
    handle = desks.directory.member_handle(PAYER, MEMBER)
    assert handle is not None
    earlier = desks.claims.archive.find(member=handle)  # the 837's claims of this member
    issuer = await coverage_issuer(net, PAYER)
    subject = Ed25519Signer()
    member = Member(subject, MemberWallet(), issuer.credential(subject, MEMBER))
    claim, parties = visit_claim("AWV-2026-1", PAYER, handle, MEMBER)
    visit = (await desks.claims.adjudicate(claim, parties, submitter=PROVIDER)).adjudication
    await create_campaign(net.gateway(PAYER, "admin"), wellness_spec(WELLNESS))
    awarder = claim_awarder(net, PAYER, desks.directory)
    key = member.wallet.member_key(WELLNESS)
    first = await awarder.award(
        WELLNESS, RULE, member.present(WELLNESS, RULE, visit.claim_key), key
    )
    again = await awarder.award(
        WELLNESS, RULE, member.present(WELLNESS, RULE, visit.claim_key), key
    )
    other = await awarder.award(WELLNESS, RULE, member.present(WELLNESS, RULE, earlier[0]), key)
    codes = ctx.facts.setdefault("incentives", {})
    codes.update({"wellness": first.status, "wellness_replay": str(again.code)})
    codes["wellness_unlisted"] = str(other.code)
    return (
        f"{PAYER} funded {WELLNESS}: $25 for an annual wellness visit it paid (HC:G0438/G0439); "
        f"{PROVIDER} billed member {MEMBER}'s G0439 visit: {visit.disposition}, "
        f"${visit.paid_cents / 100:,.2f} paid\n    "
        f"the member presented the claim key with their coverage credential from {PAYER}: "
        f"{first.status} {first.points} points (the payer matched its own member handle; on "
        f"chain only keyed digests)\n    "
        f"the same claim again: {again.status} — {again.code}; the member's earlier claim "
        f"from the 837: {other.status} — {other.code}"
    )


INCENTIVES_CHAPTER = Chapter(
    "Incentives",
    [
        ("A sponsor rewards a verified flu shot", flu_shot),
        ("A payer rewards a paid wellness visit", wellness_visit),
    ],
)
