"""The scripted story ``careledger demo`` runs on an embedded consortium.

Each step is an async function taking a :class:`DemoContext` and returning a line to show. The
story is data, not console code: the CLI renders the steps and the commit events; tests run the
same story and check its outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from careledger.errors import CareLedgerError, MembershipError
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.node.peer import CommitEvent
from careledger.sim.demo_credentials import CREDENTIAL_STORY
from careledger.sim.demo_fhir import FHIR_STORY
from careledger.validation.chain import ChainReport, verify_chain

ORGS = ["Hospital", "Lab", "Payer"]
TOKENS_POLICY = "2 OF (Hospital, Lab, Payer)"


@dataclass
class DemoContext:
    net: EmbeddedNetwork
    facts: dict[str, Any] = field(default_factory=dict)


Step = tuple[str, Callable[[DemoContext], Awaitable[str]]]


async def approve_tokens(ctx: DemoContext) -> str:
    hospital, payer = ctx.net.gateway("Hospital", "admin"), ctx.net.gateway("Payer", "admin")
    change = {"name": "tokens", "version": "1.0", "policy": TOKENS_POLICY}
    proposed = await hospital.submit("_gov", "propose", ["contract", change])
    try:
        await ctx.net.gateway("Lab").submit("tokens", "open", ["too-early"])
        early = "submitted before approval?!"
    except CareLedgerError as exc:
        early = f"refused before approval ({type(exc).__name__})"
    approved = await payer.submit("_gov", "approve", [proposed.result["id"]])
    return (
        f"Hospital proposed contract tokens {TOKENS_POLICY!r}; {early}; Payer approved: "
        f"{approved.result['status']} with {len(approved.result['approvals'])} of 3 orgs"
    )


async def fund_members(ctx: DemoContext) -> str:
    payer = ctx.net.gateway("Payer", "admin")
    for account, points in (("member-7f3a", 500), ("member-91bc", 300), ("sponsor-pool", 10_000)):
        await payer.submit("tokens", "mint", [account, points])
    balance = await payer.evaluate("tokens", "balance", ["member-7f3a"])
    return f"Payer minted care points to 3 pseudonymous accounts; member-7f3a holds {balance}"


async def double_spend(ctx: DemoContext) -> str:
    payer = ctx.net.gateway("Payer")
    results = await asyncio.gather(
        payer.submit("tokens", "transfer", ["member-7f3a", "member-91bc", 400], retries=0),
        payer.submit("tokens", "transfer", ["member-7f3a", "sponsor-pool", 400], retries=0),
        return_exceptions=True,
    )
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    codes = [getattr(r, "code", "") for r in results if isinstance(r, BaseException)]
    balance = await payer.evaluate("tokens", "balance", ["member-7f3a"])
    return (
        f"two concurrent 400-point spends of a 500-point balance: {ok} committed, "
        f"the other marked {', '.join(codes) or 'refused'}; balance now {balance}"
    )


async def revoke_member(ctx: DemoContext) -> str:
    lab_client = ctx.net.config.member("Lab", "client0")
    change = {"org": "Lab", "serial": str(lab_client.cert.serial)}
    proposed = await ctx.net.gateway("Lab", "admin").submit(
        "_gov", "propose", ["revoke_member", change]
    )
    await ctx.net.gateway("Hospital", "admin").submit("_gov", "approve", [proposed.result["id"]])
    try:
        await ctx.net.gateway("Lab").submit("tokens", "open", ["after-revocation"])
        outcome = "was accepted?!"
    except MembershipError as exc:
        outcome = f"is refused: {exc}"
    return f"governance revoked Lab.client0; its next transaction {outcome}"


async def verify(ctx: DemoContext) -> str:
    reports: list[ChainReport] = []
    genesis = ctx.net.config.genesis().header.hash()
    for org, peer in ctx.net.peers.items():
        reports.append(
            verify_chain(
                ctx.net.config.data_dir(org) / "blocks.log",
                genesis_hash=genesis,
                expected_state_root=peer.state.state_root(),
            )
        )
    roots = {r.state_root for r in reports}
    r = reports[0]
    return (
        f"re-verified {len(reports)} peers' chains offline: {r.blocks} blocks, "
        f"{r.transactions} transactions ({r.valid} valid); identical state roots: {len(roots) == 1}"
    )


STORY: list[Step] = [
    ("Governance approves a contract", approve_tokens),
    ("A payer funds care-point accounts", fund_members),
    ("MVCC stops a double spend", double_spend),
    *CREDENTIAL_STORY,
    *FHIR_STORY,
    # Last before verification: the FHIR chapter acts as Lab's client, which this revokes.
    ("Revoking a member", revoke_member),
    ("Offline verification", verify),
]


async def run_demo(
    data_dir: Path,
    on_step: Callable[[str, str], None],
    on_commit: Callable[[CommitEvent], None],
) -> DemoContext:
    """Create a consortium in ``data_dir`` (if empty), run every step, stop the network."""
    if not (data_dir / "consortium.toml").exists():
        init_consortium(data_dir, ORGS, name="careledger-demo")
    net = EmbeddedNetwork.open(data_dir)
    await net.start()
    ctx = DemoContext(net)
    unsubscribe = net.peers[ORGS[0]].subscribe(on_commit)
    try:
        for title, step in STORY:
            on_step(title, await step(ctx))
    finally:
        unsubscribe()
        await net.stop()
    return ctx
