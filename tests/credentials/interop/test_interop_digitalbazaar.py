"""Interoperability with Digital Bazaar's JavaScript VC stack (npm), both ways.

Digital Bazaar's ``@digitalbazaar/vc`` with ``data-integrity``, ``eddsa-rdfc-2022-cryptosuite``,
``eddsa-jcs-2022-cryptosuite`` and ``ed25519-signature-2020`` (versions pinned in
``package.json`` beside this file) issues credentials that CareLedger verifies, and verifies
credentials that CareLedger issues; each side also rejects tampered copies. ``di.mjs`` drives the
JS side with a document loader that serves only CareLedger's bundled contexts and did:key.

Two node processes in all: one ``issue`` batch and one ``verify`` batch.

Skipped when node or ``node_modules`` is missing (install with
``npm ci --prefix tests/credentials/interop --no-audit --no-fund``); with
``CARELEDGER_REQUIRE_INTEROP=1`` those tests fail instead of skipping.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from careledger.credentials import (
    IMMUNIZATION,
    INSURANCE_COVERAGE,
    PRACTITIONER_LICENSE,
    CredentialType,
    Cryptosuite,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    ProofOptions,
    ReasonCode,
    StatusListIssuer,
    StatusPurpose,
    Verifier,
    add_proof,
    build_credential,
    verify_proof,
)
from careledger.credentials.document_loader import known_contexts, load_document
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SCRIPT = HERE / "di.mjs"
CONTEXTS_DIR = (
    Path(__file__).resolve().parents[3] / "src" / "careledger" / "credentials" / "contexts"
)
INSTALL = "npm ci --prefix tests/credentials/interop --no-audit --no-fund"

RDFC = Cryptosuite.EDDSA_RDFC_2022.value
JCS = Cryptosuite.EDDSA_JCS_2022.value
ED2020 = Cryptosuite.ED25519_SIGNATURE_2020.value

V2_EXAMPLES = [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2",
]
V1_DATA_INTEGRITY = [
    "https://www.w3.org/2018/credentials/v1",
    "https://careledger.dev/contexts/health/v1",
    "https://w3id.org/security/data-integrity/v2",
]
V1_ED2020 = [
    "https://www.w3.org/2018/credentials/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
    "https://careledger.dev/contexts/health/v1",
]
SUBJECT = "did:key:z6MkffKsrxck6QdE2JRcsv1d4PTWuL6uRgUKMKDrGNMMsACJ"
CLAIMS: dict[str, dict[str, Any]] = {
    INSURANCE_COVERAGE.name: {
        "memberId": "M-1002003",
        "planId": "GOLD-PPO",
        "planName": "Gold PPO",
        "payerId": "did:web:payer.example",
        "payerName": "Example Health Plan",
        "coverageStart": "2025-01-01",
        "coverageEnd": "2027-12-31",
    },
    IMMUNIZATION.name: {
        "vaccineCode": "208",
        "vaccineDisplay": "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
        "occurrenceDate": "2025-03-14",
        "lotNumber": "EW0182",
        "performerId": "did:web:clinic.example",
    },
    PRACTITIONER_LICENSE.name: {
        "licenseNumber": "A-123456",
        "jurisdiction": "US-CA",
        "specialty": "Cardiology",
        "practitionerName": "Dr Ada Okafor",
        "licenseStart": "2024-07-01",
        "licenseEnd": "2026-12-31",
    },
}
KINDS = {k.name: k for k in (INSURANCE_COVERAGE, IMMUNIZATION, PRACTITIONER_LICENSE)}
# JSON and JSON-LD value shapes both canonicalizations must agree on.
VALUES = {
    "id": SUBJECT,
    "name": "Zoë Ångström \u2013 患者 😀",
    "note": 'line\nbreak "quoted" \\ tab\t\x01',
    "count": 42,
    "big": 2**53 - 1,
    "negative": -7,
    "ratio": 0.1,
    "huge": 1e21,
    "whole": 5.0,
    "flag": True,
    "nothing": None,
    "items": [{"a": 1}, {"a": 2}],
    "ordered": {"@list": [3, 1, 2]},
    "label": {"@value": "bonjour", "@language": "fr"},
    "when": {"@value": "2025-01-01", "@type": "http://www.w3.org/2001/XMLSchema#date"},
}
# Two properties whose order differs between Unicode code points (RDFC-1.0, RFC 8785 says UTF-16
# for JCS) and UTF-16 code units: U+1F600 is a surrogate pair (0xD83D...) and sorts before U+FF21
# in UTF-16 but after it by code point.
UTF16_ORDER = {"id": SUBJECT, "\U0001f600key": "smile", "\uff21key": "fullwidth A"}
RDFC_SORT_ORDER = (
    "rdf-canonize 5.0.0 sorts N-Quads by UTF-16 code unit, RDFC-1.0 requires code point order "
    "(digitalbazaar/rdf-canonize#52); CareLedger (pyoxigraph) follows the spec"
)


# -- the JS side ------------------------------------------------------------------------------
def _unavailable() -> str | None:
    """Why the JS side cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH"
    if not NODE_MODULES.is_dir():
        return f"{NODE_MODULES} is absent (install: {INSTALL})"
    pins = json.loads((HERE / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        manifest = NODE_MODULES / name / "package.json"
        found = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if found != version:
            return f"node_modules has {name} {found}, package.json pins {version} (run: {INSTALL})"
    major = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    if not major.stdout.startswith("v") or int(major.stdout[1:].split(".")[0]) < 18:
        return f"node >= 18 is needed, found {major.stdout.strip() or major.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def node() -> Callable[[str, list[Any]], dict[str, Any]]:
    """Runs ``di.mjs COMMAND`` over a batch; skips (or fails, when required) without node."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CARELEDGER_REQUIRE_INTEROP") == "1":
            pytest.fail(f"CARELEDGER_REQUIRE_INTEROP=1 but {reason}")
        pytest.skip(f"Digital Bazaar interop: {reason}")

    def run(command: str, items: list[Any]) -> dict[str, Any]:
        proc = subprocess.run(
            [str(shutil.which("node")), str(SCRIPT), command],
            input=json.dumps(items),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"di.mjs {command} failed:\n{proc.stderr}"
        out: dict[str, Any] = json.loads(proc.stdout)
        assert len(out["results"]) == len(items)
        return out

    return run


# -- cases ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    suites: tuple[str, ...]  # more than one: a proof set
    kind: str | None  # a CareLedger credential type, or None for a free-form credential
    interoperates: bool = True  # False: a known divergence, asserted to still diverge
    vc11: bool = False  # VC Data Model 1.1 (always, for Ed25519Signature2020)


def _unsigned(case: Case, issuer: str) -> dict[str, Any]:
    if case.kind is not None:
        doc = build_credential(KINDS[case.kind], issuer, SUBJECT, CLAIMS[case.kind])
    else:
        subject = UTF16_ORDER if "utf16" in case.id else VALUES
        doc = {
            "@context": list(V2_EXAMPLES),
            "id": "urn:uuid:6a1e1f3c-1b0c-4c55-9e8a-1f2a3b4c5d6e",
            "type": ["VerifiableCredential", "ExampleCredential"],
            "issuer": issuer,
            "validFrom": "2025-01-01T00:00:00Z",
            "credentialSubject": copy.deepcopy(subject),
        }
    if case.vc11 or ED2020 in case.suites:
        doc["@context"] = list(V1_ED2020 if ED2020 in case.suites else V1_DATA_INTEGRITY)
        doc["issuanceDate"] = doc.pop("validFrom")
    return doc


CASES = [
    *(Case(f"{kind}-{s}", (s,), kind) for kind in KINDS for s in (RDFC, JCS)),
    Case(f"{INSURANCE_COVERAGE.name}-{ED2020}", (ED2020,), INSURANCE_COVERAGE.name),
    *(Case(f"vc11-{s}", (s,), INSURANCE_COVERAGE.name, vc11=True) for s in (RDFC, JCS)),
    Case(f"values-{RDFC}", (RDFC,), None),
    Case(f"values-{JCS}", (JCS,), None),
    Case(f"utf16-{JCS}", (JCS,), None),
    Case(f"utf16-{RDFC}", (RDFC,), None, interoperates=False),
]
JS_ONLY = [Case("proof-set", (RDFC, JCS), INSURANCE_COVERAGE.name)]  # CareLedger makes no sets
BY_ID = {c.id: c for c in [*CASES, *JS_ONLY]}


def _tamper(credential: dict[str, Any]) -> dict[str, Any]:
    """A copy with the first string claim of the subject changed."""
    forged = copy.deepcopy(credential)
    subject = forged["credentialSubject"]
    key = next(k for k, v in subject.items() if k not in ("id", "type") and isinstance(v, str))
    subject[key] += " (forged)"
    return forged


def _resolver() -> DidResolver:
    return DidResolver([DidKeyMethod()])


# -- direction 1: Digital Bazaar issues, CareLedger verifies ----------------------------------
@dataclass
class Issued:
    results: dict[str, dict[str, Any]]  # by case id
    contexts: dict[str, str]  # di.mjs's context URL -> file table


@pytest.fixture(scope="module")
def js_issued(node: Callable[[str, list[Any]], dict[str, Any]]) -> Issued:
    cases = [*CASES, *JS_ONLY]
    items = [
        {
            "cryptosuite": list(c.suites) if len(c.suites) > 1 else c.suites[0],
            "credential": _unsigned(c, "did:example:replaced-by-di.mjs"),
        }
        for c in cases
    ]
    out = node("issue", items)
    return Issued({c.id: r for c, r in zip(cases, out["results"], strict=True)}, out["contexts"])


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_digitalbazaar_issues_careledger_verifies(js_issued: Issued, case_id: str) -> None:
    case, issued = BY_ID[case_id], js_issued.results[case_id]
    assert issued["ok"], issued.get("error")
    credential = issued["credential"]
    assert credential["issuer"] == issued["did"]
    proofs = credential["proof"] if isinstance(credential["proof"], list) else [credential["proof"]]
    assert [p.get("cryptosuite", p["type"]) for p in proofs] == list(case.suites)

    result = verify_proof(credential, _resolver())
    exact = verify_proof(credential, _resolver(), exact_terms=True)
    if not case.interoperates:
        assert result.codes == [ReasonCode.PROOF_INVALID], RDFC_SORT_ORDER
        return
    assert result.ok, result.reasons
    assert exact.ok, exact.reasons
    if case.kind is not None:  # end to end: did:key resolution, issuer, trust, validity
        trust = InMemoryTrustRegistry()
        trust.trust(issued["did"], case.kind)
        verifier = Verifier(_resolver(), trust, InMemoryStatusListSource())
        full = verifier.verify_credential(credential, expected_type=case.kind)
        assert full.ok, full.reasons
        assert full.issuer == issued["did"]

    forged = verify_proof(_tamper(credential), _resolver())
    assert forged.codes == [ReasonCode.PROOF_INVALID]


# -- direction 2: CareLedger issues, Digital Bazaar verifies ----------------------------------
@dataclass
class Batch:
    labels: list[str]
    credentials: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]


def _careledger_issued() -> dict[str, dict[str, Any]]:
    """Everything CareLedger signs that another party may verify, by label."""
    issued: dict[str, dict[str, Any]] = {}
    for case in CASES:
        signer = Ed25519Signer()
        doc = _unsigned(case, signer.did_key)
        issued[case.id] = add_proof(
            doc,
            signer,
            ProofOptions(signer.did_key_verification_method),
            Cryptosuite(case.suites[0]),
        )
    payer = Ed25519Signer()
    vm = payer.did_key_verification_method
    revocation = StatusListIssuer(
        "https://payer.example/status/r", payer.did_key, StatusPurpose.REVOCATION
    )
    suspension = StatusListIssuer(
        "https://payer.example/status/s", payer.did_key, StatusPurpose.SUSPENSION
    )
    for suite in (RDFC, JCS):
        doc = build_credential(
            INSURANCE_COVERAGE,
            payer.did_key,
            SUBJECT,
            CLAIMS[INSURANCE_COVERAGE.name],
            status=[revocation.allocate(), suspension.allocate()],
        )
        issued[f"with-status-{suite}"] = add_proof(doc, payer, ProofOptions(vm), Cryptosuite(suite))
    issued["status-list-credential"] = add_proof(revocation.credential(), payer, ProofOptions(vm))
    unsigned = build_credential(
        INSURANCE_COVERAGE, payer.did_key, SUBJECT, CLAIMS[INSURANCE_COVERAGE.name]
    )
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    issued["proof-expires-tomorrow"] = add_proof(
        unsigned, payer, ProofOptions(vm, expires=tomorrow)
    )
    return issued


def _kind_of(label: str) -> CredentialType | None:
    return next((k for name, k in KINDS.items() if label.startswith(name)), None)


@pytest.fixture(scope="module")
def js_verified(node: Callable[[str, list[Any]], dict[str, Any]], js_issued: Issued) -> Batch:
    """One ``verify`` run over CareLedger's credentials, their tampered copies, a credential whose
    issuer is not the signer, and (as a check on the tamper) Digital Bazaar's own credentials."""
    batch: dict[str, dict[str, Any]] = {}
    for label, credential in _careledger_issued().items():
        batch[f"cl:{label}"] = credential
        batch[f"cl:{label}:tampered"] = _tamper(credential)
    signer, other = Ed25519Signer(), Ed25519Signer()
    wrong_issuer = build_credential(
        INSURANCE_COVERAGE, other.did_key, SUBJECT, CLAIMS[INSURANCE_COVERAGE.name]
    )
    batch["cl:issuer-not-signer"] = add_proof(
        wrong_issuer, signer, ProofOptions(signer.did_key_verification_method)
    )
    yesterday = datetime.now(UTC) - timedelta(days=1)
    batch["cl:proof-expired"] = add_proof(
        build_credential(
            INSURANCE_COVERAGE, signer.did_key, SUBJECT, CLAIMS[INSURANCE_COVERAGE.name]
        ),
        signer,
        ProofOptions(signer.did_key_verification_method, expires=yesterday),
    )
    for case_id, issued in js_issued.results.items():
        if issued["ok"]:
            batch[f"js:{case_id}"] = issued["credential"]
            batch[f"js:{case_id}:tampered"] = _tamper(issued["credential"])
    labels = list(batch)
    out = node("verify", [batch[label] for label in labels])
    return Batch(
        labels, [batch[label] for label in labels], dict(zip(labels, out["results"], strict=True))
    )


CL_LABELS = [
    *(c.id for c in CASES),
    f"with-status-{RDFC}",
    f"with-status-{JCS}",
    "status-list-credential",
    "proof-expires-tomorrow",
]


@pytest.mark.parametrize("label", CL_LABELS)
def test_careledger_issues_digitalbazaar_verifies(js_verified: Batch, label: str) -> None:
    result = js_verified.results[f"cl:{label}"]
    case = BY_ID.get(label)
    if case is not None and not case.interoperates:
        assert not result["verified"], RDFC_SORT_ORDER
        assert any("Invalid signature" in e for e in result["errors"]), result["errors"]
        return
    assert result["verified"], result["errors"]
    tampered = js_verified.results[f"cl:{label}:tampered"]
    assert not tampered["verified"]
    assert any("Invalid signature" in e for e in tampered["errors"]), tampered["errors"]


def test_both_reject_an_issuer_that_is_not_the_signer(js_verified: Batch) -> None:
    index = js_verified.labels.index("cl:issuer-not-signer")
    credential = js_verified.credentials[index]
    js = js_verified.results["cl:issuer-not-signer"]
    assert not js["verified"]
    assert any("issuer" in e.lower() for e in js["errors"]), js["errors"]
    trust = InMemoryTrustRegistry()
    trust.trust(credential["issuer"], INSURANCE_COVERAGE.name)
    ours = Verifier(_resolver(), trust, InMemoryStatusListSource()).verify_credential(credential)
    assert ReasonCode.ISSUER_MISMATCH in ours.codes


def test_expired_proof_is_accepted_by_digitalbazaar_but_not_careledger(js_verified: Batch) -> None:
    """A known difference in policy, not in cryptography: @digitalbazaar/data-integrity 2.5.0
    checks only that ``proof.expires`` is a dateTime; CareLedger refuses an expired proof."""
    index = js_verified.labels.index("cl:proof-expired")
    assert js_verified.results["cl:proof-expired"]["verified"]
    ours = verify_proof(js_verified.credentials[index], _resolver())
    assert ours.codes == [ReasonCode.EXPIRED]


def test_digitalbazaar_round_trip_and_tamper(js_verified: Batch) -> None:
    """Digital Bazaar verifies its own credentials and rejects the tampered copies that CareLedger
    rejected above, so those rejections are about the tamper, not a mismatch."""
    for case_id in BY_ID:
        assert js_verified.results[f"js:{case_id}"]["verified"], case_id
        assert not js_verified.results[f"js:{case_id}:tampered"]["verified"], case_id


def test_js_loader_serves_careledgers_bundled_contexts(js_issued: Issued) -> None:
    """di.mjs's URL → file table is CareLedger's: same URLs, same documents, every file."""
    table = js_issued.contexts
    assert set(table) <= set(known_contexts())
    for url, name in table.items():
        assert json.loads((CONTEXTS_DIR / name).read_text()) == load_document(url), url
    assert set(table.values()) == {p.name for p in CONTEXTS_DIR.glob("*.jsonld")}
