"""X12 benchmark: an N-claim 837P end to end against pyx12 validating the same file alone.

:func:`run_x12` generates a synthetic 837P (deterministic, 100 claims per transaction set),
then times CareLedger reading it (999 pass, claim pass with mapping to the canonical model and
the 277CA), a stand-in adjudication (allowed = 80 % of charge, CO 45 for the rest, PR 2
coinsurance of 20 % — the real one is the ``claims`` contract) and writing the 835; and, in the
same run, pyx12 validating the same bytes (``baseline=False`` skips it, e.g. at 5,000 claims
where pyx12 alone takes tens of seconds). Not wired to the CLI yet (``careledger bench payer``
belongs to the payer workflows as a whole).
"""

from __future__ import annotations

import hashlib
import io
import time
from datetime import datetime
from typing import Any

from careledger.contracts.payer.model import (
    Adjustment,
    Claim,
    ClaimAdjudication,
    ClaimLine,
    ClaimParties,
    LineAdjudication,
)
from careledger.payer.x12.emit837 import write_837
from careledger.payer.x12.inbound import Inbound837
from careledger.payer.x12.offchain import Address, ClaimOffChain, ProviderParty, SubmissionHeader
from careledger.payer.x12.remit835 import (
    PayeeInfo,
    PayerInfo,
    Payment,
    RemittanceItem,
    RemittanceWriter,
)
from careledger.payer.x12.writer import Envelope, Party

PAYER_ID = "KEYHEALTH01"
_CODES = ("99213", "99214", "87070", "86663", "93000", "J1100")
_MOMENT = datetime(2026, 3, 2, 9, 30)


class BenchDirectory:
    """Every member is known; one payer id maps to the organisation ``keyhealth``."""

    def payer_org(self, payer_id: str) -> str | None:
        return "keyhealth" if payer_id == PAYER_ID else None

    def member_handle(self, payer_org: str, member_id: str) -> str | None:
        return "ph1" + hashlib.sha256(f"{payer_org}|{member_id}".encode()).hexdigest()


def synthetic_claims(count: int) -> list[tuple[Claim, ClaimOffChain]]:
    """``count`` professional claims with 1-4 lines each (deterministic)."""
    directory = BenchDirectory()
    submission = SubmissionHeader(
        reference="BENCH1",
        created="2026-03-01",
        submitter_name="PREMIER BILLING SERVICE",
        submitter_id="TGJ23",
        receiver_name="KEY INSURANCE COMPANY",
        receiver_id=PAYER_ID,
        contact_name="JERRY",
        contact_phone="3055552222",
    )
    billing = ProviderParty(
        name="BEN KILDARE SERVICE",
        npi="1912301953",
        tax_id="587654321",
        address=Address(line1="234 SEAWAY ST", city="MIAMI", state="FL", postal_code="331110000"),
        taxonomy="203BF0100Y",
    )
    out: list[tuple[Claim, ClaimOffChain]] = []
    for n in range(count):
        member_id = f"M{n:010d}"
        lines = [
            ClaimLine(
                line=i + 1,
                procedure_code=_CODES[(n + i) % len(_CODES)],
                charge_cents=5_000 + 137 * ((n * 7 + i) % 300),
                units=1 + (n + i) % 2,
                service_from=f"2026-02-{1 + (n + i) % 28:02d}",
                diagnosis_pointers=[1],
            )
            for i in range(1 + n % 4)
        ]
        claim = Claim(
            claim_id=f"PCN{n:08d}",
            kind="professional",
            member=directory.member_handle("keyhealth", member_id) or "",
            payer="keyhealth",
            billing_npi=billing.npi,
            lines=lines,
            total_charge_cents=sum(line.charge_cents for line in lines),
            place_of_service="11",
            diagnoses=["E119", "I10"],
            created="2026-03-02",
        )
        parties = ClaimParties(
            member_id=member_id,
            subscriber_last=f"DOE{n % 97}",
            subscriber_first="ALEX",
            birth_date="1980-01-15",
            gender="F",
        )
        off = ClaimOffChain(
            parties=parties,
            billing=billing,
            payer_name="KEY INSURANCE COMPANY",
            payer_id=PAYER_ID,
            submission=submission,
            subscriber_address=Address(line1="1 MAIN ST", city="MIAMI", state="FL"),
            group_number="GRP01",
        )
        out.append((claim, off))
    return out


def generate_837p(count: int) -> bytes:
    out = io.BytesIO()
    envelope = Envelope(
        sender=Party("ZZ", "TGJ23"), receiver=Party("ZZ", PAYER_ID), moment=_MOMENT, seed=b"b"
    )
    write_837(out, envelope, synthetic_claims(count))
    return out.getvalue()


def stand_in_adjudication(claim: Claim, index: int) -> ClaimAdjudication:
    """A simple, balanced adjudication (for the benchmark only)."""
    lines = []
    for line in claim.lines:
        allowed = line.charge_cents * 8 // 10
        coinsurance = allowed // 5
        lines.append(
            LineAdjudication(
                line=line.line,
                code=f"HC:{line.procedure_code}",
                modifiers=list(line.modifiers),
                charge_cents=line.charge_cents,
                allowed_cents=allowed,
                paid_cents=allowed - coinsurance,
                adjustments=[
                    Adjustment(group="CO", reason="45", amount_cents=line.charge_cents - allowed),
                    Adjustment(group="PR", reason="2", amount_cents=coinsurance),
                ],
                remarks=[],
                units_paid=line.units,
            )
        )
    return ClaimAdjudication(
        claim_key=hashlib.sha256(claim.claim_id.encode()).hexdigest(),
        digest=hashlib.sha256(claim.claim_id.encode() + b"d").hexdigest(),
        payer=claim.payer,
        member=claim.member,
        plan="gold",
        plan_year=2026,
        status="1",
        disposition="processed",
        total_charge_cents=claim.total_charge_cents,
        paid_cents=sum(line.paid_cents for line in lines),
        patient_responsibility_cents=sum(line.adjustments[1].amount_cents for line in lines),
        lines=lines,
        adjustments=[],
        remarks=[],
        payer_claim_control_number=f"KH{index:08d}",
        adjudicated=20_514,
    )


def end_to_end(data: bytes) -> dict[str, Any]:
    """Read, check, map, adjudicate (stand-in) and remit one 837 file; counts for the report."""
    inbound = Inbound837(io.BytesIO(data), directory=BenchDirectory())
    ack = inbound.acknowledge()
    items: list[RemittanceItem] = []
    for index, parsed in enumerate(inbound.claims()):
        if parsed.claim is None or parsed.offchain is None:
            continue
        items.append(
            RemittanceItem(
                adjudication=stand_in_adjudication(parsed.claim, index),
                claim=parsed.claim,
                parties=parsed.offchain.parties,
            )
        )
    out = io.BytesIO()
    remit = RemittanceWriter(
        out,
        Envelope(Party("ZZ", PAYER_ID), Party("ZZ", "TGJ23"), _MOMENT, b"remit"),
    )
    totals = remit.add(_payment(), items)
    remit.close()
    return {
        "accepted_sets": ack.accepted_sets,
        "claims": len(items),
        "paid_cents": totals.paid_cents,
        "bytes_999": len(ack.data),
        "bytes_277": len(inbound.status_report),
        "bytes_835": len(out.getvalue()),
    }


def _payment() -> Payment:
    return Payment(
        trace_number="EFT0001",
        effective="2026-03-02",
        payer=PayerInfo(
            name="KEY INSURANCE COMPANY",
            tax_id="123456789",
            address=Address(line1="10 SOUTH AVE", city="RAPID CITY", state="SD"),
            contact_name="EDI",
            contact_phone="8005551212",
        ),
        payee=PayeeInfo(name="BEN KILDARE SERVICE", npi="1912301953"),
    )


def run_x12(claims: int = 500, *, baseline: bool = True, echo: bool = True) -> dict[str, Any]:
    """Time an N-claim 837P end to end here, and pyx12 validating it alone (same run)."""
    started = time.perf_counter()
    data = generate_837p(claims)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    counts = end_to_end(data)
    ours = time.perf_counter() - started
    result: dict[str, Any] = {
        "claims": claims,
        "file_bytes": len(data),
        "generate_s": round(generated, 3),
        "careledger_s": round(ours, 3),
        "careledger_claims_per_s": round(claims / ours, 1) if ours else None,
        **counts,
    }
    if baseline:
        from careledger.payer.x12.pyx12_check import pyx12_validate

        started = time.perf_counter()
        verdict = pyx12_validate(data)
        theirs = time.perf_counter() - started
        result.update(
            pyx12_s=round(theirs, 3),
            pyx12_accepted=verdict.accepted,
            speedup=round(theirs / ours, 1) if ours else None,
        )
    if echo:
        line = (
            f"{claims} claims ({len(data) / 1e6:.2f} MB): generate {generated:.3f}s; "
            f"CareLedger parse+validate+835 {ours:.3f}s"
        )
        if baseline:
            line += f"; pyx12 validate alone {result['pyx12_s']:.3f}s; ratio {result['speedup']}x"
        print(line)
    return result
