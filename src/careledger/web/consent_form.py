"""The consent form: its choices and the :class:`~careledger.contracts.consent.ConsentTerms` it
makes. Checked here so a bad form is a clear message on the page, not a refused transaction.

Two ways in: the form's fields (recipient, purposes, resource classes, sensitive categories,
expiry date), or — on the second step of the pasted-signature flow — the ``terms`` the first
step showed (JSON), so what the patient's wallet signed is exactly what is submitted.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import get_args

import msgspec

from careledger.contracts.consent import ConsentTerms
from careledger.contracts.phi_guard import DID_PATTERN, Purpose, ResourceType, SensitiveCategory
from careledger.web.sessions import first

PURPOSES: dict[str, str] = {
    "TREAT": "Treatment",
    "HPAYMT": "Payment",
    "HOPERAT": "Health-care operations",
    "HRESCH": "Research",
    "ETREAT": "Emergency treatment",
}
CLASSES: tuple[str, ...] = get_args(ResourceType)
SENSITIVE: dict[str, str] = {
    "ETH": "Substance use (ETH)",
    "SUD": "Substance use disorder (SUD)",
    "PSY": "Psychiatry (PSY)",
    "MH": "Mental health (MH)",
    "BH": "Behavioural health (BH)",
    "HIV": "HIV",
    "STD": "Sexually transmitted disease (STD)",
    "SDV": "Sexual and domestic violence (SDV)",
    "SEX": "Sexuality and reproductive health (SEX)",
    "GDIS": "Genetic disease (GDIS)",
    "SCA": "Sickle cell anaemia (SCA)",
    "R": "Restricted (R)",
    "V": "Very restricted (V)",
}
assert set(PURPOSES) == set(get_args(Purpose))
assert set(SENSITIVE) == set(get_args(SensitiveCategory))
_DID = re.compile(DID_PATTERN)
MAX_DAYS = 3660


class ConsentFormError(ValueError):
    """What is wrong with the form, in words for the page."""


def terms_from_form(form: dict[str, list[str]], orgs: list[str]) -> ConsentTerms:
    pending = first(form, "terms")
    if pending:
        try:
            terms = msgspec.json.decode(pending.encode(), type=ConsentTerms)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ConsentFormError("the signed terms were altered; start again") from exc
        return terms
    grantee = first(form, "practitioner") or first(form, "grantee")
    if grantee not in orgs and not _DID.match(grantee):
        raise ConsentFormError("Choose a recipient: an organisation or a practitioner's DID.")
    purposes = [p for p in form.get("purpose", []) if p in PURPOSES]
    if not purposes:
        raise ConsentFormError("Choose at least one purpose.")
    classes = [c for c in form.get("class", []) if c in CLASSES]
    scope = first(form, "scope", "all")
    if scope == "all":
        classes = ["*"]
    elif not classes:
        raise ConsentFormError("Choose the kinds of records, or all records.")
    sensitive = [s for s in form.get("sensitive", []) if s in SENSITIVE]
    try:
        until = datetime.strptime(first(form, "expires"), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConsentFormError("Give an expiry date (YYYY-MM-DD).") from None
    now = int(time.time() * 1000)
    end = int(until.timestamp() * 1000) + 86_400_000  # through the end of that day
    if end <= now:
        raise ConsentFormError("The expiry date is in the past.")
    if end - now > MAX_DAYS * 86_400_000:
        raise ConsentFormError("A consent lasts at most ten years.")
    try:
        return msgspec.convert(
            {
                "grantee": grantee,
                "purposes": sorted(set(purposes)),
                "classes": sorted(set(classes)),
                "sensitive": sorted(set(sensitive)),
                "start": now - 60_000,
                "end": end,
                "nonce": secrets.token_hex(16),
            },
            ConsentTerms,
        )
    except msgspec.ValidationError as exc:
        raise ConsentFormError(f"The consent is not valid: {exc}") from None
