"""Remittance a payer sends from the chain: an 835 per payee and adjudication day, and the
member's ExplanationOfBenefit per claim.

Everything here is derived from committed adjudications and the claim archive, never from the
clock: the payment's effective date is the adjudication day, its trace number and every control
number come from a hash of the claim keys paid. So replaying the chain (a second node, or the
same node after a restart) reproduces every 835 byte for byte, and the EOB of a claim carries
the 835's numbers because both are written from one
:class:`~careledger.payer.x12.remit835.RemittanceItem`.

Pended claims get no remittance until reviewed. With the chain's history
(:class:`ChainHistory`, the node's world state), every adjudication a claim key ever had is
remitted on its own day — an original, its reversal (``CLP02`` 22) when a replacement or void
came, the replacement — each with the claim as billed in that version (the archive keeps every
version by its ledger digest), so later changes never alter an earlier day's 835.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from careledger.contracts.payer.model import ClaimAdjudication, iso_day
from careledger.contracts.values import decode_value
from careledger.errors import NotFound
from careledger.payer.claims_service import ArchivedClaim, ClaimsDesk, remittance_835
from careledger.payer.eob import explanation_of_benefit
from careledger.payer.x12.offchain import Address
from careledger.payer.x12.remit835 import PayeeInfo, PayerInfo, Payment, RemittanceItem
from careledger.payer.x12.writer import Envelope, Party

REMITTED = ("processed", "denied", "reversed")
NAMESPACE = "claims"


class _Entry(Protocol):
    @property
    def value(self) -> bytes | None: ...


class _Versioned(Protocol):
    @property
    def value(self) -> bytes: ...


class ChainHistory(Protocol):
    """What remittance reads of a node's world state (a ``StateStore``)."""

    def history(self, namespace: str, key: str) -> Sequence[_Entry]: ...

    def range(self, namespace: str, start: str, end: str) -> Sequence[tuple[str, _Versioned]]: ...


def default_payer_info(org: str) -> PayerInfo:
    """The 835's payer loop for an organisation that configured nothing else (a tax id derived
    from its name, so it is stable)."""
    tax_id = str(int.from_bytes(hashlib.sha256(org.encode()).digest()[:4], "big") % 10**9)
    return PayerInfo(
        name=f"{org.upper()} HEALTH PLAN",
        tax_id=tax_id.zfill(9),
        address=Address("1 LEDGER WAY", "BOSTON", "MA", "02110"),
        contact_name="CLAIMS",
        contact_phone="6175550100",
    )


@dataclass(frozen=True)
class Remittance:
    """One 835 and the claims it paid."""

    x12: bytes
    claim_keys: list[str]
    trace_number: str
    paid_cents: int


class RemittanceDesk:
    """Remittance for one payer organisation from its :class:`ClaimsDesk`."""

    def __init__(
        self,
        desk: ClaimsDesk,
        org: str,
        payer: PayerInfo | None = None,
        *,
        history: ChainHistory | None = None,
    ) -> None:
        self.desk = desk
        self.org = org
        self.payer = payer or default_payer_info(org)
        self.history = history

    async def items(
        self, *, billing_npi: str | None = None, member: str | None = None
    ) -> list[RemittanceItem]:
        """The remitted adjudications (not pended) of a payee's and/or member's claims, oldest
        first: every version from the chain's history when there is one, else the current."""
        keys = self.desk.archive.find(billing_npi=billing_npi, member=member)
        if self.history is None:
            items = await self.desk.remittance_items(keys)
        else:
            items = [item for key in keys for item in self._history_items(key)]
        return sorted(
            (i for i in items if i.adjudication.disposition in REMITTED),
            key=lambda i: (i.adjudication.adjudicated, i.adjudication.payer_claim_control_number),
        )

    def _history_items(self, key: str) -> list[RemittanceItem]:
        assert self.history is not None
        found: dict[str, ClaimAdjudication] = {}
        for entry in self.history.history(NAMESPACE, f"adjudication/{key}"):
            if entry.value is not None:
                adjudication = decode_value(entry.value, ClaimAdjudication)
                found[f"{adjudication.payer_claim_control_number}/{adjudication.status}"] = (
                    adjudication
                )
        prefix = f"reversal/{key}/"
        for _key, stored in self.history.range(NAMESPACE, prefix, prefix[:-1] + "0"):
            adjudication = decode_value(stored.value, ClaimAdjudication)
            found[f"{adjudication.payer_claim_control_number}/{adjudication.status}"] = adjudication
        items = []
        for adjudication in found.values():
            archived = self.desk.archive.version(adjudication.digest) or self.desk.archive.get(key)
            if archived is None:
                continue
            items.append(_item(adjudication, archived))
        return items

    async def payee_835(
        self, billing_npi: str, day: int, *, submitter: str | None = None
    ) -> Remittance:
        """The 835 of ``billing_npi``'s claims adjudicated on ``day`` (days since 1970);
        ``submitter`` limits it to the claims that organisation sent. NotFound when none."""
        items = [
            i
            for i in await self.items(billing_npi=billing_npi)
            if i.adjudication.adjudicated == day
            and (submitter is None or self._submitter(i) == submitter)
        ]
        if not items:
            raise NotFound(f"no remitted claims of payee {billing_npi} on {iso_day(day)}")
        keys = [i.adjudication.claim_key for i in items]
        seed = hashlib.sha256("\n".join(keys).encode()).digest()
        trace = "CL" + seed.hex()[:16].upper()
        archived = self.desk.archive.get(keys[0])
        name = (archived.payee_name if archived else "") or f"PROVIDER {billing_npi}"
        payment = Payment(
            trace_number=trace,
            effective=iso_day(day),
            payer=self.payer,
            payee=PayeeInfo(name=name, npi=billing_npi),
        )
        moment = datetime.fromisoformat(iso_day(day))
        envelope = Envelope(
            sender=Party("ZZ", self.org.upper()[:15]),
            receiver=Party("ZZ", billing_npi),
            moment=moment,
            seed=b"835:" + seed,
        )
        x12 = remittance_835(envelope, [(payment, items)])
        paid = sum(i.adjudication.paid_cents for i in items)
        return Remittance(x12, keys, trace, paid)

    async def explanations(self, member: str, *, patient: str) -> list[dict[str, Any]]:
        """The member's ExplanationOfBenefit resources (CARIN Blue Button), oldest first."""
        return [
            explanation_of_benefit(
                item, patient=patient, insurer=self.org, provider=item.claim.billing_npi
            )
            for item in await self.items(member=member)
        ]

    def _submitter(self, item: RemittanceItem) -> str:
        archived = self.desk.archive.get(item.adjudication.claim_key)
        return archived.submitter if archived else ""


def _item(adjudication: ClaimAdjudication, archived: ArchivedClaim) -> RemittanceItem:
    return RemittanceItem(
        adjudication=adjudication,
        claim=archived.claim,
        parties=archived.parties,
        filing_indicator=archived.filing_indicator,
    )
