"""The shared provider directory read as FHIR (Da Vinci PDex Plan-Net shapes) and searched with
the parameters directory apps use.

Entries come from the ``directory`` contract on this node's peer; each is rendered as its
Plan-Net profile and checked by the ``fhir.resources`` R4B model. A Network is a Plan-Net
``Organization`` of type ``ntwk``, so ``GET /fhir/Organization`` lists both and ``type=ntwk``
narrows to networks. A PractitionerRole carries the extension :data:`VERIFIED_URL` (boolean),
computed at read time from its licence credential (:mod:`careledger.payer.directory.licence`).

Search: ``_id``, ``_lastUpdated`` (``eq``/``gt``/``ge``/``lt``/``le`` + date or dateTime),
``name`` (starts with, case-insensitive), ``_include`` (``Type:param`` for the reference
parameters below), and per type: ``specialty`` (NUCC code, ``system|code`` or ``code``),
``network``, ``location``, ``organization``, ``practitioner``, ``service``, ``endpoint``,
``owned-by``, ``type`` (Organization), ``verified`` (PractitionerRole, ``true``/``false``). An
unknown parameter is an error (400), not silently ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from careledger.errors import InvalidInput, NotFound
from careledger.payer.directory.licence import LicenceCheck

JSON = dict[str, Any]
PLANNET = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition"
NETWORK_REFERENCE = f"{PLANNET}/network-reference"
VERIFIED_URL = "https://careledger.dev/fhir/StructureDefinition/licence-verified"
NUCC = "http://nucc.org/provider-taxonomy"
ORG_TYPE = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/OrgTypeCS"
FHIR_TYPES = (
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "InsurancePlan",
    "Endpoint",
)
# Reference search parameters per FHIR type: parameter -> (entry field, target kind).
REFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    "PractitionerRole": {
        "practitioner": ("practitioner", "Practitioner"),
        "organization": ("organization", "Organization"),
        "location": ("locations", "Location"),
        "network": ("networks", "Network"),
        "service": ("services", "HealthcareService"),
        "endpoint": ("endpoints", "Endpoint"),
    },
    "HealthcareService": {
        "organization": ("organization", "Organization"),
        "location": ("locations", "Location"),
        "network": ("networks", "Network"),
        "endpoint": ("endpoints", "Endpoint"),
    },
    "Location": {
        "organization": ("organization", "Organization"),
        "endpoint": ("endpoints", "Endpoint"),
    },
    "Organization": {"endpoint": ("endpoints", "Endpoint")},
    "InsurancePlan": {
        "network": ("networks", "Network"),
        "owned-by": ("organization", "Organization"),
    },
    "Endpoint": {"organization": ("organization", "Organization")},
    "Practitioner": {},
}
_SPECIALTY_TYPES = ("PractitionerRole", "HealthcareService")
_COMMON = ("_id", "_lastUpdated", "_include", "name")

Query = Callable[[str, str, list[Any]], Awaitable[Any]]


def _instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ref(kind: str, entry_id: str) -> JSON:
    fhir_type = "Organization" if kind == "Network" else kind
    return {"reference": f"{fhir_type}/{entry_id}"}


def to_fhir(stored: Mapping[str, Any], verified: bool | None = None) -> JSON:
    """A directory entry (the contract's view) as its Plan-Net resource."""
    entry = stored["entry"]
    kind = entry["kind"]
    fhir_type = "Organization" if kind == "Network" else kind
    resource: JSON = {
        "resourceType": fhir_type,
        "id": entry["id"],
        "meta": {
            "versionId": str(stored["version"]),
            "lastUpdated": _instant(stored["updated_at"]),
            "profile": [f"{PLANNET}/plannet-{kind}"],
        },
    }
    if kind == "Location":
        resource["status"] = "active" if entry["active"] else "inactive"
    elif kind not in ("Endpoint", "InsurancePlan"):
        resource["active"] = entry["active"]
    name = entry.get("name")
    if kind == "Practitioner" and name:
        resource["name"] = [{"text": name}]
    elif name and kind not in ("PractitionerRole",):
        resource["name"] = name
    if entry.get("phone") and kind != "Endpoint":
        resource["telecom"] = [{"system": "phone", "value": entry["phone"], "use": "work"}]
    if entry.get("address"):
        a = entry["address"]
        address: JSON = {
            "line": [a["line"]],
            "city": a["city"],
            "state": a["state"],
            "postalCode": a["postal_code"],
        }
        resource["address"] = address if kind == "Location" else [address]
    links = {k: v for k, v in entry.items() if v}
    if kind == "PractitionerRole":
        resource["practitioner"] = _ref("Practitioner", entry["practitioner"])
        if "organization" in links:
            resource["organization"] = _ref("Organization", entry["organization"])
        extensions: list[JSON] = [
            {"url": NETWORK_REFERENCE, "valueReference": _ref("Network", n)}
            for n in entry["networks"]
        ]
        if verified is not None:
            extensions.append({"url": VERIFIED_URL, "valueBoolean": verified})
        if extensions:
            resource["extension"] = extensions
    if kind in _SPECIALTY_TYPES and entry["specialties"]:
        resource["specialty"] = [
            {"coding": [{"system": NUCC, "code": code}]} for code in entry["specialties"]
        ]
    if kind in ("PractitionerRole", "HealthcareService") and entry["locations"]:
        resource["location"] = [_ref("Location", x) for x in entry["locations"]]
    if kind == "PractitionerRole" and entry["services"]:
        resource["healthcareService"] = [_ref("HealthcareService", x) for x in entry["services"]]
    if kind == "HealthcareService" and "organization" in links:
        resource["providedBy"] = _ref("Organization", entry["organization"])
    if kind == "Location" and "organization" in links:
        resource["managingOrganization"] = _ref("Organization", entry["organization"])
    if kind in ("Organization", "Network"):
        code = "ntwk" if kind == "Network" else "prvgrp"
        resource["type"] = [{"coding": [{"system": ORG_TYPE, "code": code}]}]
        if kind == "Network" and "organization" in links:
            resource["partOf"] = _ref("Organization", entry["organization"])
    if kind == "InsurancePlan":
        resource["status"] = "active" if entry["active"] else "retired"
        if "organization" in links:
            resource["ownedBy"] = _ref("Organization", entry["organization"])
        if entry["networks"]:
            resource["network"] = [_ref("Network", n) for n in entry["networks"]]
        if entry.get("plan_type"):
            resource["type"] = [{"coding": [{"code": entry["plan_type"]}]}]
    if kind == "Endpoint":
        resource["status"] = "active" if entry["active"] else "off"
        resource["connectionType"] = {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
        }
        resource["payloadType"] = [{"coding": [{"code": "any"}]}]
        resource["address"] = entry["url"]
        if "organization" in links:
            resource["managingOrganization"] = _ref("Organization", entry["organization"])
    if entry["endpoints"] and kind != "Endpoint":
        resource["endpoint"] = [_ref("Endpoint", x) for x in entry["endpoints"]]
    get_fhir_model_class(fhir_type).model_validate(resource)
    return resource


def _kinds(fhir_type: str) -> tuple[str, ...]:
    return ("Organization", "Network") if fhir_type == "Organization" else (fhir_type,)


def _reference_id(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _parse_instant(text: str) -> tuple[str, int]:
    prefix = text[:2] if text[:2] in ("eq", "gt", "ge", "lt", "le") else "eq"
    body = text[2:] if text[:2] == prefix else text
    try:
        moment = datetime.fromisoformat(body.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"_lastUpdated: {text[:40]!r} is not a date or dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return prefix, int(moment.timestamp() * 1000)


def _last_updated_ok(updated: int, prefix: str, at: int, day_only: bool) -> bool:
    end = at + (86_400_000 if day_only else 1)
    results: dict[str, bool] = {
        "eq": at <= updated < end,
        "gt": updated >= end,
        "ge": updated >= at,
        "lt": updated < at,
        "le": updated < end,
    }
    return results[prefix]


class DirectoryReader:
    """Reads and searches the directory on this node's peer (``query`` is a gateway evaluate)."""

    def __init__(self, query: Query, licences: LicenceCheck | None) -> None:
        self._query = query
        self._licences = licences

    async def _entries(self, kind: str) -> list[JSON]:
        return list(await self._query("directory", "entries", [kind]))

    def _verified(self, stored: Mapping[str, Any]) -> bool | None:
        licence = stored["entry"].get("licence")
        if stored["entry"]["kind"] != "PractitionerRole" or licence is None:
            return None
        if self._licences is None:
            return False
        return self._licences.verified(licence).verified

    def render(self, stored: Mapping[str, Any]) -> JSON:
        return to_fhir(stored, self._verified(stored))

    async def read(self, fhir_type: str, entry_id: str) -> JSON:
        for kind in _kinds(fhir_type):
            found = await self._query("directory", "entry", [kind, entry_id])
            if found is not None:
                return self.render(found)
        raise NotFound(f"no {fhir_type}/{entry_id[:64]} in the directory")

    async def search(self, fhir_type: str, params: list[tuple[str, str]], base: str) -> JSON:
        """A searchset Bundle: matches, then ``_include``d resources."""
        refs = REFERENCES[fhir_type]
        allowed = set(_COMMON) | set(refs)
        if fhir_type in _SPECIALTY_TYPES:
            allowed.add("specialty")
        if fhir_type == "Organization":
            allowed.add("type")
        if fhir_type == "PractitionerRole":
            allowed.add("verified")
        for name, _value in params:
            if name not in allowed:
                raise InvalidInput(f"{fhir_type} has no search parameter {name[:40]!r}")
        stored = [e for kind in _kinds(fhir_type) for e in await self._entries(kind)]
        matches = [s for s in stored if self._matches(s, fhir_type, params)]
        rendered = [(s, self.render(s)) for s in matches]
        if any(n == "verified" for n, _ in params):
            wanted = {v == "true" for n, v in params if n == "verified"}
            rendered = [
                (s, r)
                for s, r in rendered
                if any(
                    e.get("url") == VERIFIED_URL and e.get("valueBoolean") in wanted
                    for e in r.get("extension", [])
                )
            ]
        entries: list[JSON] = [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for _s, r in rendered
        ]
        seen = {(r["resourceType"], r["id"]) for _s, r in rendered}
        for name, value in params:
            if name != "_include":
                continue
            source, _, param = value.partition(":")
            if source != fhir_type or param not in refs:
                raise InvalidInput(f"_include={value[:60]!r}: not a reference of {fhir_type}")
            field, target = refs[param]
            for s, _r in rendered:
                linked = s["entry"].get(field)
                for target_id in linked if isinstance(linked, list) else [linked] * bool(linked):
                    found = await self._query("directory", "entry", [target, target_id])
                    if found is None:
                        continue
                    resource = self.render(found)
                    key = (resource["resourceType"], resource["id"])
                    if key not in seen:
                        seen.add(key)
                        entries.append(
                            {
                                "fullUrl": f"{base}/{key[0]}/{key[1]}",
                                "resource": resource,
                                "search": {"mode": "include"},
                            }
                        )
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(rendered),
            "entry": entries,
        }

    def _matches(
        self, stored: Mapping[str, Any], fhir_type: str, params: list[tuple[str, str]]
    ) -> bool:
        entry = stored["entry"]
        refs = REFERENCES[fhir_type]
        for name, value in params:
            if name == "_id" and entry["id"] not in value.split(","):
                return False
            name_given = str(entry.get("name") or "").lower()
            if name == "name" and not name_given.startswith(value.lower()):
                return False
            if name == "_lastUpdated":
                prefix, at = _parse_instant(value)
                day_only = len(value.removeprefix(prefix)) == 10
                if not _last_updated_ok(stored["updated_at"], prefix, at, day_only):
                    return False
            if name == "specialty":
                codes = {v.rsplit("|", 1)[-1] for v in value.split(",")}
                if not codes & set(entry["specialties"]):
                    return False
            if name == "type":
                kind = "ntwk" if entry["kind"] == "Network" else "prvgrp"
                if kind not in value.split(","):
                    return False
            if name in refs:
                field = refs[name][0]
                linked = entry.get(field)
                have = set(linked) if isinstance(linked, list) else {linked}
                if not {_reference_id(v) for v in value.split(",")} & have:
                    return False
        return True
