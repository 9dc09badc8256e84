"""The server's CapabilityStatement (``GET /metadata``), built from what is implemented."""

from __future__ import annotations

from careledger import __version__
from careledger.fhir.resources import JSON, SUPPORTED_TYPES
from careledger.fhir.searchparams import PARAMS

_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_TYPE_URLS = {"token": "token", "reference": "reference", "date": "date", "string": "string"}


def capability_statement(base_url: str, software: str = "CareLedger FHIR") -> JSON:
    resources = []
    for rtype in SUPPORTED_TYPES:
        params = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}]
        params += [{"name": p.name, "type": _TYPE_URLS[p.kind]} for p in PARAMS[rtype].values()]
        includes = [f"{rtype}:{p.name}" for p in PARAMS[rtype].values() if p.kind == "reference"]
        resources.append(
            {
                "type": rtype,
                "interaction": [{"code": code} for code in _INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": False,
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "searchInclude": includes,
                "searchParam": params,
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "kind": "instance",
        "software": {"name": software, "version": __version__},
        "implementation": {"description": "CareLedger organisation FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
