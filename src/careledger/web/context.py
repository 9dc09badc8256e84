"""What the web UI needs from the node it runs in, and the two extension points that hold keys.

:class:`UiContext` is built once per node (:func:`careledger.daemon.ui.node_ui_context`) or by
a test or demo, and handed to :func:`careledger.web.mount_ui`. It never holds a patient's key
itself: signing for a patient goes through :class:`PatientWallets` and signing a staff login
through :class:`StaffKeys`. A real node has neither (``None``): patients and staff paste what
their own wallet or key signed. The in-memory implementations here (:class:`DemoWallets`,
:class:`DemoStaffKeys`) are for ``careledger demo`` and the tests, where synthetic people's keys
live in the same process; they are never built from a node's configuration (a node builds its
context with :func:`careledger.daemon.ui.node_ui_context`).

Not for: sessions (:mod:`careledger.web.sessions`) or what pages show (the view modules).
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from careledger.credentials.did_auth import Challenge, respond
from careledger.credentials.request import PresentationRequest
from careledger.credentials.wallet import StoredCredential, Wallet
from careledger.crypto.keyfiles import secret_file
from careledger.errors import InvalidInput
from careledger.identity.did.keys import Ed25519Signer
from careledger.identity.msp import LocalIdentity
from careledger.incentives.wallet import MemberWallet

if TYPE_CHECKING:
    from careledger.api.service import NodeService
    from careledger.fhir.service import FhirService
    from careledger.longitudinal.everything import LongitudinalRecord
    from careledger.longitudinal.ledger import ProviderLedger
    from careledger.payer.claims.remittance import RemittanceDesk
    from careledger.payer.claims_service import ClaimsDesk
    from careledger.payer.directory.licence import LicenceCheck
    from careledger.payer.pas.service import PriorAuthService


class PatientWallet(Protocol):
    """One patient's wallet as the UI may use it: sign what the patient approved on the page."""

    @property
    def did(self) -> str: ...

    def sign(self, payload: bytes) -> bytes:
        """The patient's DID key signature over ``payload`` (a consent grant or revocation)."""
        ...

    def respond(self, challenge: Challenge) -> str:
        """The signed DID-auth answer to ``challenge`` (a compact JWS)."""
        ...

    def credentials(self) -> list[StoredCredential]: ...

    def present(self, request: PresentationRequest) -> str:
        """An SD-JWT+KB disclosing only ``request.claims``."""
        ...

    @property
    def rewards(self) -> MemberWallet | None:
        """The wallet's care-point key (per-campaign pseudonyms), if it holds one."""
        ...


class PatientWallets(Protocol):
    """Wallets the UI can reach by DID (none on a real node: the patient's wallet is theirs)."""

    def get(self, did: str) -> PatientWallet | None: ...

    def dids(self) -> list[str]:
        """The DIDs offered on the login page (demo only)."""
        ...


class StaffKeys(Protocol):
    """Member identities whose login the UI may sign itself (demo only)."""

    def get(self, label: str) -> LocalIdentity | None: ...

    def labels(self) -> list[str]: ...


@dataclass
class DemoWallet:
    """A synthetic patient's wallet held in-process: their DID key and, optionally, a
    :class:`~careledger.credentials.wallet.Wallet` with credentials."""

    signer: Ed25519Signer
    did: str
    verification_method: str
    wallet: Wallet | None = None
    rewards: MemberWallet | None = None

    def sign(self, payload: bytes) -> bytes:
        return self.signer.sign(payload)

    def respond(self, challenge: Challenge) -> str:
        return respond(challenge, self.signer, self.verification_method)

    def credentials(self) -> list[StoredCredential]:
        return [] if self.wallet is None else self.wallet.credentials()

    def present(self, request: PresentationRequest) -> str:
        if self.wallet is None:
            raise LookupError("this wallet holds no credentials")
        return self.wallet.present(request)


@dataclass
class DemoWallets:
    by_did: dict[str, DemoWallet] = field(default_factory=dict)

    def add(self, wallet: DemoWallet) -> None:
        self.by_did[wallet.did] = wallet

    def get(self, did: str) -> PatientWallet | None:
        return self.by_did.get(did)

    def dids(self) -> list[str]:
        return sorted(self.by_did)


@dataclass
class DemoStaffKeys:
    by_label: dict[str, LocalIdentity] = field(default_factory=dict)

    def add(self, identity: LocalIdentity) -> None:
        self.by_label[identity.label] = identity

    def get(self, label: str) -> LocalIdentity | None:
        return self.by_label.get(label)

    def labels(self) -> list[str]:
        return sorted(self.by_label)


@dataclass(frozen=True)
class FhirSide:
    """The organisation's FHIR half, when the node serves one."""

    service: FhirService
    ledger: ProviderLedger
    record: LongitudinalRecord


@dataclass(frozen=True)
class PayerBackend:
    """The organisation's payer half (every node opens one, :mod:`careledger.daemon.payer_side`):
    what the payer desk reads and acts through."""

    prior_auth: PriorAuthService
    claims: ClaimsDesk | None = None
    remittance: RemittanceDesk | None = None
    licences: LicenceCheck | None = None
    """Licence checks for the directory's verification status (None: shown unverified)."""


@dataclass
class UiContext:
    """Everything the pages read from: the node, its FHIR side, peers, and the signing keys."""

    node: NodeService
    session_secret: bytes
    fhir: FhirSide | None = None
    peers: Mapping[str, str] = field(default_factory=dict)
    """Other organisations' node URLs (state roots across peers, health)."""
    verify: ssl.SSLContext | bool = True
    secure_cookies: bool = False
    """Set the cookie's Secure flag: on whenever the node serves HTTPS."""
    ordering: str = ""
    """The ordering backend's name (``jetstream``, ``embedded-solo``…) for the dashboard."""
    ordering_health: object | None = None
    """The ordering service, asked for ``health()`` when it has one (NATS)."""
    wallets: PatientWallets | None = None
    staff_keys: StaffKeys | None = None
    audience: str = ""
    """What DID-auth answers and staff logins are bound to (default: ``careledger:ui:<org>``)."""
    payer: PayerBackend | None = None
    """The node's payer side (PAS review, claims, remittance); None: the payer desk says so."""

    @property
    def org(self) -> str:
        return self.node.org

    def login_audience(self) -> str:
        return self.audience or f"careledger:ui:{self.org}"


def session_secret(path: Path) -> bytes:
    """The cookie-signing secret in ``path`` (base64url), created (32 random bytes, mode 0600)
    on first use (:func:`careledger.crypto.keyfiles.secret_file`)."""
    try:
        return secret_file(path, min_bytes=16)
    except InvalidInput:
        return secrets.token_bytes(32)  # a damaged file: sessions simply restart
