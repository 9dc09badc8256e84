"""TLS for the node API, node-to-node calls and NATS: contexts from PEM files, and a local CA.

Production consortia bring their own PKI (each organisation's certificates chained to a CA the
others trust, named in the node's ``[tls]`` table). For one machine, :func:`make_local_ca` and
:func:`issue_certificate` make a throwaway CA and certificates for ``127.0.0.1``/``localhost``
(``careledger network up --tls`` uses them). Certificates are X.509 v3 with ECDSA P-256 keys
(``cryptography``), both server and client usage, so the same file serves the node's HTTPS and
its mutual-TLS calls to other nodes.

Transport security only: who may do what is still decided by the members' ledger identities
(signed requests and proposals), never by a TLS certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from careledger.crypto.keyfiles import check_private, private_dir, read_secret, write_secret
from careledger.errors import InvalidInput

LOCAL_HOSTS = ("127.0.0.1", "localhost")
_VALIDITY = datetime.timedelta(days=825)
_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)
_BOTH_USAGES = x509.ExtendedKeyUsage(
    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: a certificate, its private key, and the CA certificate(s) to trust (None:
    the system's trust store)."""

    cert: Path
    key: Path
    ca: Path | None


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_secret(path, pem)  # mode 0600 from the first byte


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CareLedger"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_local_ca(directory: Path, name: str = "CareLedger local CA") -> tuple[Path, Path]:
    """A new CA (certificate, key) in ``directory``: ``ca.crt``, ``ca.key`` (mode 0600)."""
    private_dir(directory)  # holds private keys: 0700 when new
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


def issue_certificate(
    ca_cert: Path, ca_key: Path, directory: Path, name: str, hosts: tuple[str, ...] = LOCAL_HOSTS
) -> TlsFiles:
    """A certificate for ``hosts`` (IP addresses or DNS names) signed by the CA, usable as
    server and client: ``<name>.crt`` and ``<name>.key`` in ``directory``."""
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(read_secret(ca_key), password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{ca_key} is not an EC private key")
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(_BOTH_USAGES, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
        .sign(signer, hashes.SHA256())
    )
    private_dir(directory)  # holds private keys: 0700 when new
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return TlsFiles(cert_path, key_path, ca_cert)


def local_node_certificates(
    directory: Path, names: Sequence[str], *, client: str = "client"
) -> tuple[dict[str, TlsFiles], TlsFiles]:
    """A local CA in ``directory`` and a certificate per node name (``orgs/<name>.crt``), plus
    one for clients (``<client>.crt``): the set a one-machine network needs."""
    ca, ca_key = make_local_ca(directory, "CareLedger local network CA")
    nodes = {name: issue_certificate(ca, ca_key, directory / "orgs", name) for name in names}
    return nodes, issue_certificate(ca, ca_key, directory, client)


def client_context(
    ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """Verifies servers against ``ca`` (None: the system's trust store), hostname checked;
    presents ``cert`` when given (mutual TLS)."""
    try:
        context = ssl.create_default_context(cafile=None if ca is None else str(ca))
        if cert is not None and key is not None:
            context.load_cert_chain(str(cert), str(check_private(key)))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"cannot load TLS files ({ca}, {cert}): {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(files: TlsFiles, *, require_client_cert: bool = False) -> ssl.SSLContext:
    """Serves ``files.cert``; with ``require_client_cert``, only clients with a certificate
    chained to ``files.ca`` may connect (mutual TLS)."""
    if require_client_cert and files.ca is None:
        raise InvalidInput("requiring client certificates needs a CA to check them against")
    try:
        cafile = None if files.ca is None else str(files.ca)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=cafile)
        context.load_cert_chain(str(files.cert), str(check_private(files.key)))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"cannot load TLS files ({files.cert}, {files.ca}): {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    return context
