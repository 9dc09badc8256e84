"""The incentives chapter of ``careledger demo``: a payer funds a flu-shot campaign; the patient
presents an immunization credential and is rewarded once; a second try is refused; the yearly cap
bites; points are redeemed; the sponsor's report (:func:`careledger.incentives.story.
flu_shot_campaign`). Everything is synthetic.
"""

from __future__ import annotations

from careledger.incentives.story import flu_shot_campaign
from careledger.sim.story import Chapter, DemoContext


async def flu_shot(ctx: DemoContext) -> str:
    story = await flu_shot_campaign(ctx.net, sponsor="Payer", clinic="Hospital", auditor="Lab")
    ctx.facts["incentives"] = story.codes
    return "\n    ".join(story.lines)


INCENTIVES_CHAPTER = Chapter("Incentives", [("A sponsor rewards a verified flu shot", flu_shot)])
