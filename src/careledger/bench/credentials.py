"""Single-core issue and verify throughput, for ``careledger bench credentials``.

Verification figures are end to end through :class:`~careledger.credentials.verifier.Verifier`:
proof, DID resolution (did:key, cached), trust registry, validity and a status list check. The
SD-JWT figure is presentation verification including the key-binding JWT. Prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from careledger.credentials.credential_types import (
    INSURANCE_COVERAGE,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.request import PresentationRequest
from careledger.credentials.sd_jwt import holder_jwk, present
from careledger.credentials.status.bitstring import (
    InMemoryStatusListSource,
    StatusListIssuer,
    StatusPurpose,
)
from careledger.credentials.trust import InMemoryTrustRegistry
from careledger.credentials.verifier import Verifier
from careledger.identity.did.key_method import DidKeyMethod
from careledger.identity.did.keys import Ed25519Signer
from careledger.identity.did.resolver import DidResolver

_CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
    "coverageEnd": "2025-12-31",
}


def _rate(action: Callable[[], Any], seconds: float) -> float:
    action()  # warm caches (contexts, DID documents, status lists)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        action()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def run(seconds: float = 2.0) -> dict[str, float]:
    """Operations per second for each format; each figure is measured for ``seconds``."""
    payer = Ed25519Signer()
    holder = Ed25519Signer()
    vm = payer.did_key_verification_method
    resolver = DidResolver([DidKeyMethod()])
    trust = InMemoryTrustRegistry()
    trust.trust(payer.did_key, INSURANCE_COVERAGE.name, INSURANCE_COVERAGE.vct)
    lists = StatusListIssuer(
        "https://payer.example/status/1", payer.did_key, StatusPurpose.REVOCATION
    )
    source = InMemoryStatusListSource()
    source.publish(add_proof(lists.credential(), payer, ProofOptions(vm)))
    verifier = Verifier(resolver, trust, source)
    claims = {**_CLAIMS, "payerId": payer.did_key}
    until = datetime.now(UTC) + timedelta(days=365)
    figures: dict[str, float] = {}

    for label, suite in (
        ("jcs", Cryptosuite.EDDSA_JCS_2022),
        ("rdfc", Cryptosuite.EDDSA_RDFC_2022),
    ):

        def issue(suite: Cryptosuite = suite) -> dict[str, Any]:
            return issue_credential(
                INSURANCE_COVERAGE,
                payer,
                vm,
                holder.did_key,
                claims,
                suite=suite,
                valid_until=until,
                status=[lists.allocate()],
            )

        figures[f"{label}_issue_per_s"] = _rate(issue, seconds)
        credential = issue()

        def verify(credential: dict[str, Any] = credential) -> None:
            if not verifier.verify_credential(credential).ok:
                raise AssertionError("benchmark credential failed to verify")

        figures[f"{label}_verify_per_s"] = _rate(verify, seconds)

    jwk = holder_jwk(holder)

    def issue_sd() -> str:
        return issue_sd_jwt_vc(
            INSURANCE_COVERAGE, payer, vm, claims, jwk, status=[lists.allocate()]
        )

    figures["sd_jwt_issue_per_s"] = _rate(issue_sd, seconds)
    token = issue_sd()
    wanted = ("memberId", "planName")
    pool: list[tuple[str, PresentationRequest]] = []

    def verify_presentation() -> None:
        if not pool:
            # Fresh nonces each time (the verifier rejects replays); built outside the timing
            # budget in bulk, so the figure is dominated by verification.
            for _ in range(500):
                req = PresentationRequest.new(INSURANCE_COVERAGE.vct, wanted, "did:web:clinic")
                pool.append((present(token, wanted, holder, req.audience, req.nonce), req))
        presentation, req = pool.pop()
        if not verifier.verify_sd_jwt(presentation, req).ok:
            raise AssertionError("benchmark presentation failed to verify")

    figures["sd_jwt_present_per_s"] = _rate(
        lambda: present(token, wanted, holder, "did:web:clinic", "n"), seconds
    )
    figures["sd_jwt_presentation_verify_per_s"] = _timed_excluding_setup(
        verify_presentation, pool, seconds
    )
    return figures


def _timed_excluding_setup(action: Callable[[], None], pool: list[Any], seconds: float) -> float:
    """Like :func:`_rate`, but refills of ``pool`` (presentation building) are not counted."""
    count, busy = 0, 0.0
    while busy < seconds:
        if not pool:
            action()  # refills the pool, then verifies one; not timed
            continue
        start = time.perf_counter()
        action()
        busy += time.perf_counter() - start
        count += 1
    return count / busy
