"""For any generated adjudication, the member's ExplanationOfBenefit carries the 835's numbers:
claim totals (CLP03/04/05), and per service line the charge, allowed and paid amounts (SVC02,
AMT*B6, SVC03) and every CAS adjustment with its CARC."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings

from careledger.payer.eob import explanation_of_benefit
from careledger.payer.x12.remit835 import Payment, RemittanceItem, write_835
from careledger.payer.x12.writer import Envelope, Party
from tests.payer.x12.factories import payments

ENVELOPE = Envelope(Party("ZZ", "PAYER"), Party("ZZ", "PAYEE"), datetime(2026, 3, 20, 9), b"eob")


def _cents(text: str) -> int:
    return round(float(text) * 100)


def _claims_of(x12: bytes) -> list[dict[str, Any]]:
    """Per CLP: its amounts and its lines' (SVC, AMT*B6, CAS) amounts."""
    text = x12.decode()
    element, terminator = text[3], text[105]
    claims: list[dict[str, Any]] = []
    for raw in text.split(terminator):
        seg = raw.strip().split(element)
        if seg[0] == "CLP":
            claims.append({"clp": seg, "lines": []})
        elif seg[0] == "SVC" and claims:
            claims[-1]["lines"].append({"svc": seg, "allowed": None, "cas": []})
        elif seg[0] == "AMT" and seg[1] == "B6" and claims and claims[-1]["lines"]:
            claims[-1]["lines"][-1]["allowed"] = _cents(seg[2])
        elif seg[0] == "CAS" and claims and claims[-1]["lines"]:
            for i in range(2, len(seg) - 1, 3):
                if seg[i]:
                    claims[-1]["lines"][-1]["cas"].append((seg[1], seg[i], _cents(seg[i + 1])))
    return claims


def _amount(adjudications: list[dict[str, Any]], code: str) -> int:
    return sum(
        round(a["amount"]["value"] * 100)
        for a in adjudications
        if a["category"]["coding"][0]["code"] == code and "reason" not in a
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments())
def test_the_eob_equals_the_835_for_every_claim(
    batch: tuple[Payment, list[RemittanceItem]],
) -> None:
    payment, items = batch
    out = io.BytesIO()
    write_835(out, ENVELOPE, [(payment, items)])
    written = _claims_of(out.getvalue())
    assert len(written) == len(items)
    for item, claim in zip(items, written, strict=True):
        eob = explanation_of_benefit(
            item, patient="Patient/p", insurer="Org2", provider="1234567893"
        )
        clp = claim["clp"]
        assert _cents(clp[3]) == _amount(eob["total"], "submitted")
        assert _cents(clp[4]) == _amount(eob["total"], "paidtoprovider")
        assert _cents(clp[5]) == _amount(eob["total"], "memberliability")
        assert _cents(clp[4]) == round(eob["payment"]["amount"]["value"] * 100)
        assert len(claim["lines"]) == len(eob["item"])
        for line, entry in zip(claim["lines"], eob["item"], strict=True):
            adjudications = entry["adjudication"]
            assert _cents(line["svc"][2]) == _amount(adjudications, "submitted")
            assert _cents(line["svc"][3]) == _amount(adjudications, "paidtoprovider")
            if line["allowed"] is not None:
                assert line["allowed"] == _amount(adjudications, "eligible")
            reasons = sorted(
                (a["reason"]["coding"][0]["display"], a["reason"]["coding"][0]["code"],
                 round(a["amount"]["value"] * 100))
                for a in adjudications
                if "reason" in a
            )  # fmt: skip
            assert reasons == sorted(line["cas"])
