"""Nodes over HTTPS with mutual TLS: endorsement between organisations' nodes crosses TLS, and
a caller without a certificate from the consortium's CA (or trusting another CA) gets nothing."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from careledger.api.client import NodeClient
from careledger.errors import InvalidInput
from careledger.identity.msp import parse_cert
from careledger.ledger.transaction import decode_envelope
from careledger.node.consortium import ConsortiumConfig
from careledger.tls import (
    TlsFiles,
    client_context,
    issue_certificate,
    make_local_ca,
    server_context,
)
from tests.api.nodes import cluster


def test_endorsement_crosses_mutual_tls_and_strangers_are_refused(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def main() -> None:
        async with cluster(consortium, tls_dir=tmp_path / "tls") as c:
            org1 = await c.client("Org1", "admin")
            assert org1.base_url.startswith("https://127.0.0.1:")
            minted = await org1.submit("tokens", "mint", ["tls-1", 7])
            assert minted.code == "VALID"
            raw = (await org1.transaction(minted.tx_id)).envelope
            envelope = decode_envelope(_b64(raw))
            assert len({parse_cert(e.endorser)[0].org for e in envelope.endorsements}) == 2

            url = c.nodes["Org2"].url
            # No client certificate: the node refuses the connection (mutual TLS).
            anonymous = client_context(tmp_path / "tls" / "ca.crt")
            async with httpx.AsyncClient(base_url=url, verify=anonymous) as http:
                with pytest.raises(httpx.TransportError):
                    await http.get("/v1/health")
            # Trusting another CA: the node's certificate does not verify.
            other_ca, _ = make_local_ca(tmp_path / "other")
            async with NodeClient(
                url, consortium.member("Org2", "client0"), verify=client_context(other_ca)
            ) as stranger:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await stranger.state()
            # Plain HTTP to an HTTPS port gets nothing either.
            async with httpx.AsyncClient(base_url=url.replace("https:", "http:")) as http:
                with pytest.raises(httpx.TransportError):
                    await http.get("/v1/health")

    asyncio.run(main())


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_local_certificates_name_the_hosts_and_serve_both_ways(tmp_path: Path) -> None:
    ca, key = make_local_ca(tmp_path)
    files = issue_certificate(ca, key, tmp_path, "Org1", hosts=("127.0.0.1", "node.example"))
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["node.example"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u.dotted_string for u in usages} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"
    assert server_context(files, require_client_cert=True).verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(InvalidInput, match="needs a CA"):
        server_context(TlsFiles(files.cert, files.key, None), require_client_cert=True)
    with pytest.raises(InvalidInput, match="cannot load"):
        client_context(tmp_path / "missing.crt")
