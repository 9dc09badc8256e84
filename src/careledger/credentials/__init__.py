"""W3C Verifiable Credentials 2.0 (Data Integrity EdDSA), SD-JWT VC, Bitstring Status List, trust
registry, holder wallet, verifier and DID authentication.

Where things are::

    data_integrity   add_proof / verify_proof: eddsa-rdfc-2022, eddsa-jcs-2022, Ed25519Signature2020
    canonical        RDFC-1.0 (pyoxigraph) and JCS (rfc8785); undefined-term guards
    document_loader  offline JSON-LD contexts shipped in contexts/
    sd_jwt, jws      SD-JWT issue / present / decode; compact JWS
    status_list      bitstring status lists, status list credentials, status checks
    trust            in-memory trust registry
    credential_types insurance coverage, immunization, practitioner licence (+ registration hook)
    request          a verifier's presentation request
    verifier         one call: proof, issuer, trust, validity, status, holder binding, disclosure
    wallet           encrypted holder wallet, minimal presentations
    did_auth         challenge/response proof of DID control
    bench            throughput figures for ``careledger bench credentials``
    ledger           the ledger-backed DID method, status list source and trust registry
"""

from careledger.credentials.base import KeyResolver, StatusListSource, TrustRegistry
from careledger.credentials.credential_types import (
    IMMUNIZATION,
    INSURANCE_COVERAGE,
    PRACTITIONER_LICENSE,
    CredentialType,
    build_credential,
    credential_type,
    issue_credential,
    issue_sd_jwt_vc,
    register_credential_type,
)
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof, verify_proof
from careledger.credentials.errors import (
    CredentialFormatError,
    ProofError,
    SchemaError,
    UnknownContext,
    WalletError,
)
from careledger.credentials.request import PresentationRequest
from careledger.credentials.results import Reason, ReasonCode, VerificationResult
from careledger.credentials.status.bitstring import (
    InMemoryStatusListSource,
    StatusList,
    StatusListIssuer,
    StatusPurpose,
)
from careledger.credentials.trust import InMemoryTrustRegistry
from careledger.credentials.verifier import Verifier
from careledger.credentials.wallet import Wallet

__all__ = [
    "IMMUNIZATION",
    "INSURANCE_COVERAGE",
    "PRACTITIONER_LICENSE",
    "CredentialFormatError",
    "CredentialType",
    "Cryptosuite",
    "InMemoryStatusListSource",
    "InMemoryTrustRegistry",
    "KeyResolver",
    "PresentationRequest",
    "ProofError",
    "ProofOptions",
    "Reason",
    "ReasonCode",
    "SchemaError",
    "StatusList",
    "StatusListIssuer",
    "StatusListSource",
    "StatusPurpose",
    "TrustRegistry",
    "UnknownContext",
    "VerificationResult",
    "Verifier",
    "Wallet",
    "WalletError",
    "add_proof",
    "build_credential",
    "credential_type",
    "issue_credential",
    "issue_sd_jwt_vc",
    "register_credential_type",
    "verify_proof",
]
