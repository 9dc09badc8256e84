"""The ledger chapters of ``careledger demo``: governance approves a contract, a payer funds
accounts, MVCC stops a double spend; and the closing chapter: governance revokes a member, then
every peer's chain is re-verified offline.
"""

from __future__ import annotations

import asyncio

from careledger.errors import CareLedgerError, MembershipError
from careledger.sim.story import Chapter, DemoContext
from careledger.validation.chain import ChainReport, verify_chain

TOKENS_POLICY = "2 OF (Hospital, Lab, Payer)"


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


LEDGER_CHAPTER = Chapter(
    "Ledger",
    [
        ("Governance approves a contract", approve_tokens),
        ("A payer funds care-point accounts", fund_members),
        ("MVCC stops a double spend", double_spend),
    ],
)

# Last: other chapters act as Lab's client, which this revokes.
CLOSING_CHAPTER = Chapter(
    "Closing",
    [
        ("Revoking a member", revoke_member),
        ("Offline verification", verify),
    ],
)
