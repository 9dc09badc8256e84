"""W3C Data Integrity proofs with EdDSA: eddsa-rdfc-2022, eddsa-jcs-2022 and Ed25519Signature2020.

Implements the create/verify algorithms of *Data Integrity EdDSA Cryptosuites v1.0* (hash of the
canonical proof configuration followed by the hash of the canonical document, signed with
Ed25519). Ed25519Signature2020 is kept for verifiers that support only it. Not the place for
issuer, status or validity checks: that is :mod:`careledger.credentials.verifier`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from careledger.credentials.base import KeyResolver
from careledger.credentials.canonical import dropped_terms_exact, jcs, rdfc_pair, undefined_terms
from careledger.credentials.document_loader import ED25519_2020_V1
from careledger.credentials.errors import CredentialFormatError, ProofError, UnknownContext
from careledger.credentials.results import ReasonCode, VerificationResult
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import (
    Ed25519Signer,
    KeyType,
    from_multibase_b58,
    multibase_b58,
)


class Cryptosuite(StrEnum):
    """Proof types CareLedger creates and verifies."""

    EDDSA_RDFC_2022 = "eddsa-rdfc-2022"
    EDDSA_JCS_2022 = "eddsa-jcs-2022"
    ED25519_SIGNATURE_2020 = "Ed25519Signature2020"


@dataclass(frozen=True)
class ProofOptions:
    """New-proof options; ``challenge``/``domain`` bind an authentication proof to a session."""

    verification_method: str
    proof_purpose: str = "assertionMethod"
    created: datetime | None = None
    challenge: str | None = None
    domain: str | None = None
    expires: datetime | None = None


def xsd_datetime(at: datetime) -> str:
    """``at`` as an XML Schema dateTime in UTC, second precision (``2024-01-01T00:00:00Z``)."""
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: Any) -> datetime | None:
    """An aware datetime from an XML Schema dateTime string, or None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _hash_data(proof_config: bytes, document: bytes) -> bytes:
    return hashlib.sha256(proof_config).digest() + hashlib.sha256(document).digest()


def _canonical_hash(
    suite: Cryptosuite, document: Mapping[str, Any], config: Mapping[str, Any]
) -> bytes:
    if suite is Cryptosuite.EDDSA_JCS_2022:
        return _hash_data(jcs(config), jcs(document))
    canon_doc, canon_config = rdfc_pair(document, config)
    return _hash_data(canon_config.encode("utf-8"), canon_doc.encode("utf-8"))


def _proof_config(suite: Cryptosuite, options: ProofOptions, context: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if suite is Cryptosuite.ED25519_SIGNATURE_2020:
        config["type"] = "Ed25519Signature2020"
    else:
        config["type"] = "DataIntegrityProof"
        config["cryptosuite"] = suite.value
    config["created"] = xsd_datetime(options.created or datetime.now(UTC))
    config["verificationMethod"] = options.verification_method
    config["proofPurpose"] = options.proof_purpose
    if options.expires is not None:
        config["expires"] = xsd_datetime(options.expires)
    if options.challenge is not None:
        config["challenge"] = options.challenge
    if options.domain is not None:
        config["domain"] = options.domain
    if context is not None:
        config["@context"] = context
    return config


def add_proof(
    document: Mapping[str, Any],
    signer: Ed25519Signer,
    options: ProofOptions,
    suite: Cryptosuite = Cryptosuite.EDDSA_RDFC_2022,
) -> dict[str, Any]:
    """A copy of ``document`` with a new proof by ``signer``.

    For the RDF suites, every property must be defined by a shipped context (checked exactly with a
    full JSON-LD expansion); an undefined one raises :class:`CredentialFormatError` rather than
    being signed as if absent.
    """
    if "proof" in document:
        raise ProofError("document already has a proof; proof sets are not created by CareLedger")
    unsecured = copy.deepcopy(dict(document))
    context = unsecured.get("@context")
    if suite is not Cryptosuite.EDDSA_JCS_2022:
        if context is None:
            raise CredentialFormatError(f"{suite.value} needs a JSON-LD @context")
        if suite is Cryptosuite.ED25519_SIGNATURE_2020:
            ctx_list = context if isinstance(context, list) else [context]
            if ED25519_2020_V1 not in ctx_list:
                raise CredentialFormatError(
                    f"Ed25519Signature2020 needs the {ED25519_2020_V1} context in the document"
                )
        dropped = dropped_terms_exact(unsecured)
        if dropped:
            raise CredentialFormatError(f"properties not defined by any context: {dropped}")
    config = _proof_config(suite, options, context)
    signature = signer.sign(_canonical_hash(suite, unsecured, config))
    proof = dict(config)
    if suite is not Cryptosuite.EDDSA_JCS_2022:
        proof.pop("@context", None)
    proof["proofValue"] = multibase_b58(signature)
    unsecured["proof"] = proof
    return unsecured


def _suite_of(proof: Mapping[str, Any]) -> Cryptosuite | None:
    if proof.get("type") == "Ed25519Signature2020":
        return Cryptosuite.ED25519_SIGNATURE_2020
    if proof.get("type") == "DataIntegrityProof":
        try:
            return Cryptosuite(str(proof.get("cryptosuite")))
        except ValueError:
            return None
    return None


def verify_proof(
    secured: Mapping[str, Any],
    keys: KeyResolver,
    proof_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    exact_terms: bool = False,
) -> VerificationResult:
    """Check the proof(s) on ``secured``. Every proof in a proof set must verify.

    ``challenge``/``domain``, when given, must match the proof's (authentication proofs).
    ``exact_terms`` replaces the fast undefined-term guard with full JSON-LD expansion.
    """
    result = VerificationResult()
    raw = secured.get("proof")
    if raw is None:
        return result.fail(ReasonCode.PROOF_MISSING, "the document has no proof")
    proofs = raw if isinstance(raw, list) else [raw]
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    for proof in proofs:
        if not isinstance(proof, Mapping):
            return result.fail(ReasonCode.MALFORMED, "proof is not an object")
        _verify_one(
            unsecured,
            proof,
            keys,
            proof_purpose,
            challenge,
            domain,
            now or datetime.now(UTC),
            exact_terms,
            result,
        )
        if not result.ok:
            break
    return result


def _verify_one(
    unsecured: dict[str, Any],
    proof: Mapping[str, Any],
    keys: KeyResolver,
    proof_purpose: str,
    challenge: str | None,
    domain: str | None,
    now: datetime,
    exact_terms: bool,
    result: VerificationResult,
) -> None:
    suite = _suite_of(proof)
    if suite is None:
        result.fail(
            ReasonCode.UNSUPPORTED_PROOF,
            f"unsupported proof {proof.get('type')}/{proof.get('cryptosuite')}",
        )
        return
    if "previousProof" in proof:
        result.fail(ReasonCode.UNSUPPORTED_PROOF, "proof chains (previousProof) are not supported")
        return
    if proof.get("proofPurpose") != proof_purpose:
        result.fail(
            ReasonCode.WRONG_PROOF_PURPOSE,
            f"proof purpose is {proof.get('proofPurpose')!r}, expected {proof_purpose!r}",
        )
        return
    if challenge is not None and proof.get("challenge") != challenge:
        result.fail(ReasonCode.CHALLENGE_INVALID, "proof challenge does not match")
        return
    if domain is not None and proof.get("domain") != domain:
        result.fail(ReasonCode.CHALLENGE_INVALID, "proof domain does not match")
        return
    if "created" in proof and parse_datetime(proof["created"]) is None:
        result.fail(ReasonCode.MALFORMED, "proof created is not a dateTime")
        return
    if "expires" in proof:
        expires = parse_datetime(proof["expires"])
        if expires is None or expires < now:
            result.fail(ReasonCode.EXPIRED, "the proof has expired")
            return
    try:
        signature = from_multibase_b58(str(proof.get("proofValue", "")))
    except InvalidDid:
        result.fail(ReasonCode.MALFORMED, "proofValue is not multibase base58btc")
        return
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    document = unsecured
    if suite is Cryptosuite.EDDSA_JCS_2022:
        if "@context" in config:
            doc_ctx = unsecured.get("@context")
            doc_list = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
            proof_ctx = config["@context"]
            proof_list = proof_ctx if isinstance(proof_ctx, list) else [proof_ctx]
            if doc_list[: len(proof_list)] != proof_list:
                result.fail(
                    ReasonCode.PROOF_INVALID, "proof @context does not prefix the document's"
                )
                return
            document = {**unsecured, "@context": proof_ctx}
    else:
        if "@context" not in unsecured:
            result.fail(ReasonCode.MALFORMED, "the document has no @context")
            return
        config["@context"] = unsecured["@context"]
        try:
            undefined = (
                dropped_terms_exact(unsecured) if exact_terms else undefined_terms(unsecured)
            )
        except UnknownContext as exc:
            result.fail(ReasonCode.MALFORMED, str(exc))
            return
        if undefined:
            result.fail(
                ReasonCode.UNDEFINED_TERMS,
                f"properties no context defines (they would be unsigned): {undefined}",
            )
            return
    method_id = str(proof.get("verificationMethod", ""))
    lookup = keys.verification_method(method_id, proof_purpose)
    if lookup.method is None:
        result.fail(ReasonCode.KEY_UNRESOLVED, lookup.error)
        return
    if lookup.method.public_key.key_type is not KeyType.ED25519:
        result.fail(ReasonCode.UNSUPPORTED_PROOF, f"{suite.value} needs an Ed25519 key")
        return
    try:
        data = _canonical_hash(suite, document, config)
    except (CredentialFormatError, UnknownContext) as exc:
        result.fail(ReasonCode.MALFORMED, str(exc))
        return
    if not lookup.method.public_key.verify(data, signature):
        result.fail(ReasonCode.PROOF_INVALID, f"{suite.value} signature does not verify")
