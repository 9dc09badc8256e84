"""Finding: another organisation's search answered with the store's unfiltered ``total`` (and
paging links from it), so ``Patient?family=…&birthdate=…`` told it whether a person is a patient
here without any consent. Another organisation's searches and histories now count and page only
what the access policy lets it see."""

from __future__ import annotations

from typing import Any

from careledger.fhir.base import AccessDecision, AccessRequest
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore

BASE = "http://fhir.test"


class ConsentFor:
    """Permits the listed patients only."""

    def __init__(self, *patients: str) -> None:
        self.patients = set(patients)

    def decide(self, request: AccessRequest) -> AccessDecision:
        return AccessDecision(self.permits(request), "test")

    def permits(self, request: AccessRequest) -> bool:
        return request.patient in self.patients


def _patient(family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], "birthDate": "1970-01-01"}


def test_another_organisation_s_search_counts_only_what_it_may_see(tmp_path: Any) -> None:
    store = SQLiteResourceStore(tmp_path / "fhir.sqlite", MasterKey.generate())
    try:
        service = FhirService(store, base_url=BASE)
        hidden = [service.create("Patient", _patient("Oracle")).version.id for _ in range(3)]
        shown = service.create("Patient", _patient("Oracle")).version.id
        service.policy = ConsentFor(f"Patient/{shown}")
        query = [("family", "Oracle"), ("birthdate", "1970-01-01"), ("_count", "1")]

        own = service.search("Patient", query)
        assert own["total"] == 4  # the organisation's own users see everything

        other = service.search("Patient", query, requester="Org2")
        assert other["total"] == 1
        assert [e["fullUrl"].rsplit("/", 1)[1] for e in other["entry"]] == [shown]
        assert [link["relation"] for link in other["link"]] == ["self"]
        later = service.search("Patient", [*query, ("_offset", "1")], requester="Org2")
        assert (later["total"], later.get("entry", [])) == (1, [])

        service.policy = ConsentFor()
        nothing = service.search("Patient", [("family", "Oracle")], requester="Org3")
        assert (nothing["total"], nothing["entry"]) == (0, [])
        history = service.history("Patient", None, [], requester="Org3")
        assert (history["total"], history["entry"]) == (0, [])
        service.delete("Patient", hidden[0])
        history = service.history("Patient", hidden[0], [], requester="Org3")
        assert (history["total"], history["entry"]) == (0, [])  # not even that it was deleted
    finally:
        store.close()
