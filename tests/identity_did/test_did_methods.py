"""did:key, did:web and did:careledger resolution through one resolver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careledger.identity.did import (
    DidKeyMethod,
    DidOperationError,
    DidResolver,
    DidWebMethod,
    Ed25519Signer,
    InMemoryDidRegistry,
    InvalidDid,
    KeyType,
    PublicKey,
    ResolutionError,
    ResolutionOptions,
    StaticFetcher,
    did_web_for,
    did_web_url,
    render_did_json,
)

# did:key test vector from the W3C CCG did:key spec (Ed25519).
ED_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
# P-256 did:key from the did:key spec test vectors.
P256_DID = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"


def test_did_key_ed25519_document() -> None:
    result = DidResolver([DidKeyMethod()]).resolve(ED_DID)
    assert result.ok
    assert result.did_document is not None
    doc = result.did_document.data
    vm_id = f"{ED_DID}#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    assert doc["verificationMethod"][0]["id"] == vm_id
    assert doc["verificationMethod"][0]["type"] == "Multikey"
    assert doc["assertionMethod"] == [vm_id]
    assert doc["authentication"] == [vm_id]


def test_did_key_p256() -> None:
    result = DidResolver([DidKeyMethod()]).resolve(P256_DID)
    assert result.ok
    assert result.did_document is not None
    method = result.did_document.verification_method(
        result.did_document.data["verificationMethod"][0]["id"]
    )
    assert method is not None
    assert method.public_key.key_type is KeyType.P256


def test_multikey_round_trip() -> None:
    signer = Ed25519Signer(bytes(32))
    assert signer.did_key.startswith("did:key:z6Mk")
    assert PublicKey.from_multikey(signer.public_key.multikey) == signer.public_key
    with pytest.raises(InvalidDid):
        PublicKey.from_multikey("z111")


@pytest.mark.parametrize(
    ("did", "error"),
    [
        ("not-a-did", ResolutionError.INVALID_DID),
        ("did:key:zBad0", ResolutionError.INVALID_DID),
        ("did:key:z6MkhaXgBZDvotDkL5257", ResolutionError.INVALID_DID),
        ("did:ion:abc", ResolutionError.METHOD_NOT_SUPPORTED),
        ("did:careledger:nobody", ResolutionError.NOT_FOUND),
        ("did:web:unknown.example", ResolutionError.NOT_FOUND),
    ],
)
def test_resolution_errors(did: str, error: ResolutionError) -> None:
    resolver = DidResolver([DidKeyMethod(), DidWebMethod(StaticFetcher()), InMemoryDidRegistry()])
    result = resolver.resolve(did)
    assert result.error is error
    assert not result.ok
    assert result.resolution_metadata()["error"] == error.value


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
        ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
    ],
)
def test_did_web_url(did: str, url: str) -> None:
    assert did_web_url(did) == url


def test_did_web_resolve_and_render() -> None:
    key = Ed25519Signer()
    did = did_web_for("hospital.example:8443", "orgs", "st-mary")
    assert did == "did:web:hospital.example%3A8443:orgs:st-mary"
    doc = render_did_json(
        did,
        [key.public_key],
        [
            {
                "id": f"{did}#fhir",
                "type": "FhirEndpoint",
                "serviceEndpoint": "https://h.example/fhir",
            }
        ],
    )
    fetcher = StaticFetcher({did_web_url(did): doc})
    resolver = DidResolver([DidWebMethod(fetcher)])
    result = resolver.resolve(did)
    assert result.ok
    assert result.did_document is not None
    assert resolver.verification_method(f"{did}#key-1", "assertionMethod").method is not None
    assert result.did_document.services()[0]["type"] == "FhirEndpoint"
    # a document served for another DID is refused
    fetcher.put(did_web_url("did:web:evil.example"), doc)
    assert resolver.resolve("did:web:evil.example").error is ResolutionError.INVALID_DID


def test_did_web_network_fault_is_internal_error() -> None:
    class Broken:
        def fetch(self, url: str) -> bytes | None:
            raise OSError("connection refused")

    result = DidResolver([DidWebMethod(Broken())]).resolve("did:web:a.example")
    assert result.error is ResolutionError.INTERNAL_ERROR


def test_resolver_cache_and_ttl() -> None:
    calls: list[str] = []
    key = Ed25519Signer()
    did = "did:web:a.example"

    class Counting:
        def fetch(self, url: str) -> bytes | None:
            calls.append(url)
            import json

            return json.dumps(render_did_json(did, [key.public_key])).encode()

    now = [0.0]
    resolver = DidResolver([DidWebMethod(Counting())], cache_ttl=10, clock=lambda: now[0])
    resolver.resolve(did)
    resolver.resolve(did)
    assert len(calls) == 1
    resolver.resolve(did, ResolutionOptions(no_cache=True))
    now[0] = 11
    resolver.resolve(did)
    assert len(calls) == 3


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(minutes=1)
        return self.at


def test_careledger_registry_lifecycle() -> None:
    registry = InMemoryDidRegistry(clock=Clock())
    resolver = DidResolver([registry], cache_ttl=0)
    first, second = Ed25519Signer(), Ed25519Signer()
    did = registry.create(first.public_key)
    assert did.startswith("did:careledger:")
    assert resolver.verification_method(f"{did}#key-1", "assertionMethod").method is not None

    registry.add_service(
        did,
        {"id": "#wallet", "type": "WalletService", "serviceEndpoint": "https://w.example"},
        first,
    )
    v3 = registry.rotate_keys(did, [second.public_key], first)
    assert v3 == "3"
    with pytest.raises(DidOperationError, match="not signed by a current"):
        registry.add_service(did, {"id": "#x", "type": "X", "serviceEndpoint": "https://x"}, first)

    latest = resolver.resolve(did)
    assert latest.did_document is not None
    method = latest.did_document.verification_method("#key-1")
    assert method is not None
    assert method.public_key == second.public_key
    assert latest.did_document.services()[0]["id"] == f"{did}#wallet"
    assert latest.document_metadata.version_id == "3"
    old = resolver.resolve(did, ResolutionOptions(version_id="1"))
    assert old.did_document is not None
    old_method = old.did_document.verification_method("#key-1")
    assert old_method is not None
    assert old_method.public_key == first.public_key
    assert resolver.resolve(did, ResolutionOptions(version_id="9")).error is (
        ResolutionError.NOT_FOUND
    )

    registry.deactivate(did, second)
    gone = resolver.resolve(did)
    assert gone.document_metadata.deactivated
    assert not gone.ok
    assert gone.document_metadata.to_json()["deactivated"] is True
    lookup = resolver.verification_method(f"{did}#key-1", "assertionMethod")
    assert lookup.method is None
    assert "deactivated" in lookup.error
    with pytest.raises(DidOperationError, match="deactivated"):
        registry.rotate_keys(did, [first.public_key], second)


def test_p256_signature_verification() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = ec.generate_private_key(ec.SECP256R1())
    raw = private.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    key = PublicKey(KeyType.P256, raw)
    r, s = decode_dss_signature(private.sign(b"msg", ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert key.verify(b"msg", sig)
    assert not key.verify(b"other", sig)
    assert PublicKey.from_multikey(key.multikey) == key
    assert key.multikey.startswith("zDn")
