"""The PHI guard: what may be written to the ledger, enforced in code.

Two layers:

* **Strict, by schema** — for the healthcare contracts (``locator``, ``consent``, ``audit``).
  Every string field of their state values and arguments is one of the *shapes* declared here
  (:data:`Did`, :data:`Handle`, :data:`HexDigest`, :data:`OrgId`, :data:`Month`, …) or a code
  from a small vocabulary (``Literal``); integers are counts, versions or timestamps (ms).
  :func:`check_schema` refuses a struct type that declares anything else (a bare ``str``,
  ``bytes``, ``Any``, a float, a free-form dict), once per type; :func:`check_struct` re-validates
  a value against its annotated type (a Struct built in Python skips msgspec's constraints) and
  screens it. A free-text field cannot be declared, so a name cannot be written.
* **Generic, by shape** — :func:`screen` runs on every state value, key and event of every
  contract (from :class:`careledger.endorsement.simulator.Simulation`). It cannot know that
  ``Smith`` is a name rather than an account label, so it rejects what *looks like* PHI whatever
  the field: whitespace (free text), e-mail addresses, dates with a day (birth dates), digit runs
  of 5 or more (SSN, MRN, phone, ZIP, card numbers), MRN/SSN prefixes, anything non-ASCII
  (homoglyphs, zero-width and full-width characters, which would hide the rest from these
  checks), control characters, strings over 128 characters, and base64 or hex that decodes to
  readable text. Hex digests and id prefixes (16-128 hex characters, not all digits), UUIDs
  and DIDs are accepted as identifiers, and so is a procedure code written as X12 qualifies it
  (``HC:99213``: a CPT code has five digits, which alone would read as a ZIP or an MRN).
  ``bytes`` are opaque to it (signatures, key material, a published status list); the strict
  layer allows no bytes. The governance namespace ``_gov`` is exempt: it describes
  organisations, whose names are not PHI and may contain spaces.

Errors are :class:`PhiRejected` (a :class:`~careledger.errors.ContractError`), naming the path
of the offending value and the rule — never echoing the value itself.
"""

from __future__ import annotations

import base64
import binascii
import re
import types
import typing
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Annotated, Any, Literal

import msgspec

from careledger.errors import CareLedgerError, ContractError
from careledger.identity.did.keys import from_multibase_b58

# --- shapes of the strict layer ---------------------------------------------------------------

DID_PATTERN = r"^did:(careledger|key):z?[1-9A-HJ-NP-Za-km-z]{10,60}$"
Did = Annotated[str, msgspec.Meta(pattern=DID_PATTERN)]
"""A did:careledger or did:key DID (key-derived, so it says nothing about the person)."""

HANDLE_PATTERN = r"^ph1[0-9a-f]{64}$"
Handle = Annotated[str, msgspec.Meta(pattern=HANDLE_PATTERN)]
"""A patient's pseudonymous locator handle (see :mod:`careledger.contracts.record_locator`)."""

HexDigest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest (salted content hashes, resource keys, transaction ids)."""

HexSignature = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{128}$")]
"""An Ed25519 signature, hex."""

Nonce = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]

OrgId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
"""A consortium organisation id; contracts check it is a member (``_gov``)."""

Grantee = Annotated[
    str, msgspec.Meta(pattern=rf"({DID_PATTERN})|(^[A-Za-z][A-Za-z0-9_-]{{0,63}}$)")
]
"""An organisation id or a practitioner's DID."""

Month = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
"""``YYYY-MM``: the only date precision the ledger holds (see docs/interoperability.md)."""

Millis = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]
"""Milliseconds since the epoch (up to year 9999)."""

Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]

ResourceType = Literal[
    "Patient", "Encounter", "Observation", "Condition", "Procedure", "MedicationRequest",
    "Immunization", "AllergyIntolerance", "DiagnosticReport", "DocumentReference", "Coverage",
    "Claim", "ExplanationOfBenefit",
]  # fmt: skip
Confidentiality = Literal["U", "L", "M", "N", "R", "V"]
Purpose = Literal["TREAT", "HPAYMT", "HOPERAT", "HRESCH", "ETREAT"]
"""HL7 v3 PurposeOfUse: treatment, payment, operations, research, emergency treatment."""
SensitiveCategory = Literal[
    "ETH", "SUD", "PSY", "MH", "BH", "HIV", "STD", "SDV", "SEX", "GDIS", "SCA", "R", "V"
]
"""HL7 v3 ActInformationSensitivityPolicy codes that need naming in a consent (ETH/SUD:
substance use, 42 CFR Part 2; PSY/MH/BH: mental health; …), plus confidentiality R and V."""
BreakGlassReason = Literal["UNCONSCIOUS", "LIFE-THREAT", "INCAPACITY", "CONSENT-UNREACHABLE"]

_STRICT_STR_FIELD_OK = "annotated pattern or Literal"


class PhiRejected(ContractError):
    """A value that may be (or hide) protected health information was refused."""


# --- strict layer -----------------------------------------------------------------------------


def _check_type(tp: Any, where: str, seen: set[Any]) -> None:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *metas = typing.get_args(tp)
        if base is str:
            if not any(isinstance(m, msgspec.Meta) and m.pattern for m in metas):
                raise PhiRejected(f"{where}: a str field needs a pattern ({_STRICT_STR_FIELD_OK})")
            return
        _check_type(base, where, seen)
        return
    if origin is Literal:
        return
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            _check_type(arg, where, seen)
        return
    if origin in (list, tuple, frozenset, set):
        for arg in typing.get_args(tp):
            if arg is not Ellipsis:
                _check_type(arg, f"{where}[]", seen)
        return
    if tp in (int, bool, type(None)):
        return
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in seen:
            return
        seen.add(tp)
        for name, hint in typing.get_type_hints(tp, include_extras=True).items():
            _check_type(hint, f"{tp.__name__}.{name}", seen)
        return
    raise PhiRejected(f"{where}: type {tp!r} is not allowed on the ledger ({_STRICT_STR_FIELD_OK})")


@cache
def check_schema(struct_type: type[msgspec.Struct]) -> None:
    """Refuse a state or argument type that could carry free text (checked once per type)."""
    _check_type(struct_type, struct_type.__name__, set())


def check_struct(value: msgspec.Struct) -> None:
    """Validate ``value`` against its annotated type and screen it; raises PhiRejected."""
    kind = type(value)
    check_schema(kind)
    plain = msgspec.to_builtins(value)
    try:
        msgspec.convert(plain, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise PhiRejected(f"{kind.__name__}: {exc}") from None
    screen(plain, kind.__name__)


# --- generic layer ----------------------------------------------------------------------------

# Digests and id prefixes (16-128 lowercase hex, even length) with at least one letter: an
# all-digit string is a number (a card or account number), not a digest.
_HEX_ID = re.compile(r"^(?=[0-9a-f]*[a-f])(?:[0-9a-f]{2}){8,64}$")
_HANDLE = re.compile(HANDLE_PATTERN)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DID = re.compile(DID_PATTERN)
# A CPT/HCPCS code with its X12 qualifier (contracts.payer.values.BillingCode), nothing else.
_BILLING_CODE = re.compile(r"^HC:[0-9A-Z]{5}$")
# UUIDs and hex ids (with at least one letter) standing as a whole part of a composite token.
_ID_INSIDE = re.compile(
    r"(?<![\w-])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|(?=[0-9a-f]*[a-f])(?:[0-9a-f]{2}){8,64})(?![\w-])"
)
_DID_INSIDE = re.compile(DID_PATTERN[1:-1] + r"(?:#[\w-]{1,64})?")
# A DID URL naming one of its keys: the fragment is a multikey or a short key name.
_DID_URL = re.compile(DID_PATTERN[:-1] + r"#(?:z[1-9A-HJ-NP-Za-km-z]{10,60}|[A-Za-z][\w-]{0,31})$")
_MULTIKEY = re.compile(r"^z[1-9A-HJ-NP-Za-km-z]{40,60}$")
_EMAIL = re.compile(r"[^\s]+@[^\s]+")
_DATE_DAY = re.compile(
    r"(\d{4}[-/.]?(0[1-9]|1[0-2])[-/.]?(0[1-9]|[12]\d|3[01]))"
    r"|((0?[1-9]|[12]\d|3[01])[-/.](0?[1-9]|1[0-2])[-/.]\d{2,4})"
    r"|((0?[1-9]|1[0-2])[-/.](0?[1-9]|[12]\d|3[01])[-/.]\d{2,4})"
)
_DIGIT_RUN = re.compile(r"\d{5,}")
_SPLIT_NUMBER = re.compile(r"\d{2,4}[-.()_+]{1,2}\d{2,4}[-.()_+]{1,2}\d{2,4}")
_ID_PREFIX = re.compile(r"(?i)(mrn|ssn|dob|npi|medicaid|medicare|passport|licen[cs]e)[-_:#=]?\d")
_B64 = re.compile(r"^[A-Za-z0-9+/_-]{12,}={0,2}$")
_HEXTEXT = re.compile(r"^(?:[0-9a-fA-F]{2}){6,}$")
MAX_TEXT = 128
# ``_gov`` describes organisations; ``directory`` is the public provider directory (names,
# addresses, taxonomy codes), whose contract types every field (contracts/payer/directory.py).
EXEMPT_NAMESPACES = frozenset({"_gov", "directory"})


_PRINTABLE = bytes([9, 10, 13, *range(32, 127)])
_LETTERS = bytes([*range(65, 91), *range(97, 123)])
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s")


def _readable(data: bytes) -> bool:
    """Bytes that are mostly printable text with letters: decoded text hidden in an encoding."""
    if len(data) < 6:
        return False
    # bytes.translate(None, table) deletes the listed bytes: counting in C, not per byte here.
    printable = len(data) - len(data.translate(None, _PRINTABLE))
    letters = len(data) - len(data.translate(None, _LETTERS))
    return printable / len(data) >= 0.85 and letters >= 3


def _hidden_text(text: str) -> bool:
    if _HEXTEXT.match(text) and not _HEX_ID.match(text.lower()) and _readable(bytes.fromhex(text)):
        return True
    if _B64.match(text) and not _MULTIKEY.match(text):
        padded = text + "=" * (-len(text) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                if _readable(decode(padded)):
                    return True
            except (binascii.Error, ValueError):
                continue
    return False


# Multicodec prefixes of the keys a Multikey may hold: Ed25519 (32 bytes), P-256 (33, compressed).
_KEY_CODECS = ((b"\xed\x01", 34), (b"\x80\x24", 35))


def _is_public_key(text: str) -> bool:
    """A multibase (base58btc) Multikey that decodes to a key, not digits dressed up as one."""
    if not _MULTIKEY.match(text):
        return False
    try:
        raw = from_multibase_b58(text)
    except (ValueError, CareLedgerError):
        return False
    return any(raw.startswith(p) and len(raw) == n for p, n in _KEY_CODECS)


@lru_cache(maxsize=65536)  # the same codes, orgs and months recur in every entry
def screen_text(text: str) -> str | None:
    """Why ``text`` may be PHI (a rule name), or None when it has an identifier's shape."""
    if not text.isascii():
        return "non-ASCII characters"
    if _CONTROL.search(text):
        return "control characters"
    if _HEX_ID.match(text):
        # Text hidden as hex; short ids (< 12 bytes) are too short to tell from random.
        return "encoded text" if len(text) >= 24 and _readable(bytes.fromhex(text)) else None
    if _UUID.match(text) or _HANDLE.match(text) or _DID.match(text) or _DID_URL.match(text):
        return None
    if _BILLING_CODE.match(text):
        return None
    if _is_public_key(text):  # random digits inside a key are not a number
        return None
    if _SPACE.search(text):
        return "free text (whitespace)"
    if len(text) > MAX_TEXT and not _MULTIKEY.match(text):
        return f"text over {MAX_TEXT} characters"
    # Composite tokens ("motion:<tx prefix>", "trust/did:key:z6Mk…/Type", "acct/<uuid>") are
    # judged without the identifiers inside them, whose random digits can look like a date or
    # a number; what remains is judged as it stands and part by part.
    rest = _ID_INSIDE.sub("~", _DID_INSIDE.sub("~", text))
    if _EMAIL.search(rest):
        return "an e-mail address"
    if _DATE_DAY.search(rest):
        return "a date with a day"
    if _ID_PREFIX.search(rest):
        return "an identifier (MRN/SSN/...)"
    for part in re.split(r"[:/]", rest):
        if _DIGIT_RUN.search(part) or _SPLIT_NUMBER.search(part):
            return "a number that may identify a person (SSN, MRN, phone, ZIP)"
    if _hidden_text(text):
        return "encoded text"
    return None


def _clean(value: Any) -> bool:
    """True when :func:`screen` would pass ``value``: the same judgement without building the
    path of every item (which only a refusal's message needs). Anything but plain dicts, lists,
    tuples and text answers False, and takes the full walk."""
    kind = type(value)
    if kind is str:
        return screen_text(value) is None
    if kind is dict:
        return all(
            (type(key) is not str or screen_text(key) is None) and _clean(item)
            for key, item in value.items()
        )
    if kind is list or kind is tuple:
        return all(_clean(item) for item in value)
    return not isinstance(value, str | Mapping | list | tuple)


def screen(value: Any, path: str = "value") -> None:
    """Walk plain data (dicts, lists, str, int, bool, None, bytes) and refuse PHI-like strings.

    Floats are refused elsewhere (canonical encoding); bytes are opaque here.
    """
    if _clean(value):  # the common case, once per state write: no paths to build
        return
    _screen(value, path)


def _screen(value: Any, path: str) -> None:
    if isinstance(value, str):
        rule = screen_text(value)
        if rule is not None:
            raise PhiRejected(f"{path}: refused, looks like PHI ({rule})")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                _screen(key, f"{path} key")
            _screen(item, f"{path}.{key}" if isinstance(key, str) and key.isascii() else path)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _screen(item, f"{path}[{i}]")


def screen_key(key: str) -> None:
    """A state key is screened part by part (``prefix/part/part``)."""
    for part in key.split("/"):
        if part:
            rule = screen_text(part)
            if rule is not None:
                raise PhiRejected(f"state key: refused, looks like PHI ({rule})")


def screen_state(namespace: str, key: str, value: msgspec.Struct) -> None:
    """The generic check every contract's write passes through (not ``_gov``)."""
    if namespace in EXEMPT_NAMESPACES:
        return
    screen_key(key)
    screen(
        msgspec.to_builtins(value, builtin_types=(bytes,)), f"{namespace}:{key.split('/', 1)[0]}"
    )


def screen_event(namespace: str, name: str, payload: Mapping[str, Any]) -> None:
    """Events go into the block with the transaction: screened like state."""
    if namespace in EXEMPT_NAMESPACES:
        return
    screen(name, "event name")
    screen(msgspec.to_builtins(dict(payload), builtin_types=(bytes,)), f"event {name}")


def require(value: Any, shape: Any, name: str) -> None:
    """Check a direct function argument against a shape (``Contract.call`` converts arguments
    with ``typing.get_type_hints``, which drops ``Annotated`` constraints)."""
    try:
        msgspec.convert(value, shape, strict=True)
    except msgspec.ValidationError as exc:
        raise PhiRejected(f"argument {name!r}: {exc}") from None
    screen(value, name)
