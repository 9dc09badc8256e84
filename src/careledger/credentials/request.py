"""A verifier's request for a presentation: which credential type, which claims, for whom, and a
fresh nonce — what a wallet needs to build a minimal SD-JWT presentation and what the verifier
checks the answer against.

``holder_binding`` says whether the verifier demands proof that the presenter holds the
credential's ``cnf`` key (a key-binding JWT). It is on by default; a verifier that accepts bearer
credentials (no ``cnf``, no KB-JWT) turns it off — a KB-JWT that is presented is checked anyway.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from careledger.credentials.errors import CredentialFormatError


@dataclass(frozen=True)
class PresentationRequest:
    """Requested claims (dot paths) of one credential type, bound to ``audience`` and ``nonce``."""

    credential_type: str
    claims: tuple[str, ...]
    audience: str
    nonce: str
    issued_at: float
    max_age: float = 300.0
    holder_binding: bool = True

    @classmethod
    def new(
        cls,
        credential_type: str,
        claims: Iterable[str],
        audience: str,
        max_age: float = 300.0,
        now: float | None = None,
        holder_binding: bool = True,
    ) -> PresentationRequest:
        """A request with a fresh 128-bit nonce."""
        wanted = tuple(sorted(set(claims)))
        if not wanted:
            raise CredentialFormatError("a presentation request asks for at least one claim")
        return cls(
            credential_type,
            wanted,
            audience,
            secrets.token_urlsafe(16),
            time.time() if now is None else now,
            max_age,
            holder_binding,
        )

    def to_json(self) -> dict[str, Any]:
        """The request as sent to a wallet."""
        return {
            "credential_type": self.credential_type,
            "claims": list(self.claims),
            "aud": self.audience,
            "nonce": self.nonce,
            "iat": self.issued_at,
            "max_age": self.max_age,
            "holder_binding": self.holder_binding,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PresentationRequest:
        """Parse a request received by a wallet."""
        try:
            return cls(
                credential_type=str(data["credential_type"]),
                claims=tuple(str(c) for c in data["claims"]),
                audience=str(data["aud"]),
                nonce=str(data["nonce"]),
                issued_at=float(data["iat"]),
                max_age=float(data.get("max_age", 300.0)),
                holder_binding=_flag(data.get("holder_binding", True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CredentialFormatError(f"malformed presentation request: {exc}") from exc

    def allows(self, disclosed_path: str) -> bool:
        """True when disclosing ``disclosed_path`` is needed for a requested claim."""
        return any(
            wanted == disclosed_path
            or wanted.startswith((disclosed_path + ".", disclosed_path + "[]"))
            or disclosed_path.startswith((wanted + ".", wanted + "[]"))
            for wanted in self.claims
        )


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("holder_binding must be true or false")
    return value
