"""The hub's TLS material: its own CA and serving certificate, or the operator's.

On first start a hub makes a CA in ``<data-dir>/tls`` and keeps it: agents pin its
fingerprint (``sha256:`` of the certificate's DER, carried in every join token) and CLI
contexts keep its PEM, so it must survive restarts. The serving certificate is signed
again on every start for the addresses of that start (the listen address, localhost,
127.0.0.1, ::1 and ``--tls-san`` extras); its key never leaves the data dir.

With ``--tls-cert``/``--tls-key`` the operator's certificate is served instead, and the
last certificate of its chain file is the anchor that is published and pinned.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
CA_DAYS, SERVER_DAYS = 3650, 365
MAX_SANS = 64
_DNS_NAME = re.compile(
    r"\A(?=.{1,253}\Z)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class TlsError(Exception):
    """The TLS flags or files cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class TlsOptions:
    """What the operator asked for on the command line."""

    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    sans: tuple[str, ...] = ()
    plain_http: bool = False


@dataclass(frozen=True)
class ServingTls:
    """What the hub serves with, and what it publishes for clients to trust."""

    certfile: Path
    keyfile: Path
    client_ca: Path | None
    ca_pem: str
    """The anchor's PEM, served at ``GET /api/v1alpha1/ca`` and kept in CLI contexts."""
    fingerprint: str
    """``sha256:<hex>`` of the anchor's DER: what join tokens carry."""


def fingerprint_of(pem: str) -> str:
    """``sha256:<hex>`` of a PEM certificate's DER (as kubeadm's ca-cert-hash)."""
    return "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def pem_certificates(text: str) -> list[str]:
    """Each PEM certificate block of a bundle, in order."""
    return [m.group(0) + "\n" for m in _PEM_CERT.finditer(text)]


def checked_san(value: str) -> str:
    """A ``--tls-san`` value: an IP address or a DNS name, fully matched."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(value):
        raise TlsError(
            f"--tls-san {value!r}: give an IP address or a DNS name like hub.example.com"
        )
    return value.lower()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare(options: TlsOptions, data_dir: Path, listen_host: str) -> ServingTls | None:
    """The TLS the hub serves with (None for ``--plain-http``), made or checked now so
    that a bad file fails the start with a message rather than the first handshake."""
    if options.plain_http:
        if options.cert or options.key or options.client_ca:
            raise TlsError(
                "--plain-http cannot be combined with --tls-cert, --tls-key or --client-ca"
            )
        return None
    if options.client_ca is not None and not options.client_ca.is_file():
        raise TlsError(f"--client-ca {options.client_ca}: no such file")
    if options.cert or options.key:
        return _operator_tls(options)
    return _own_tls(options, data_dir / TLS_DIR, listen_host)


def _operator_tls(options: TlsOptions) -> ServingTls:
    if not (options.cert and options.key):
        raise TlsError("--tls-cert and --tls-key go together: give both, or neither")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            options.cert, options.key
        )
        chain = pem_certificates(options.cert.read_text())
    except (OSError, ssl.SSLError, ValueError) as e:
        raise TlsError(f"--tls-cert/--tls-key cannot be used: {e}") from e
    if not chain:
        raise TlsError(f"--tls-cert {options.cert}: holds no PEM certificate")
    anchor = chain[-1]
    return ServingTls(options.cert, options.key, options.client_ca, anchor, fingerprint_of(anchor))


def _own_tls(options: TlsOptions, tls_dir: Path, listen_host: str) -> ServingTls:
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(tls_dir, 0o700)
    ca_cert, ca_key = _ca(tls_dir)
    sans = _sans(listen_host, tuple(checked_san(s) for s in options.sans))
    cert, key = _serving_certificate(ca_cert, ca_key, sans)
    _write(tls_dir / SERVER_KEY, _key_pem(key), private=True)
    _write(tls_dir / SERVER_CERT, cert.public_bytes(serialization.Encoding.PEM), private=False)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    return ServingTls(
        tls_dir / SERVER_CERT,
        tls_dir / SERVER_KEY,
        options.client_ca,
        ca_pem,
        fingerprint_of(ca_pem),
    )


def _ca(tls_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA of this data dir, made on first start and reused after."""
    cert_path, key_path = tls_dir / CA_CERT, tls_dir / CA_KEY
    if cert_path.exists() != key_path.exists():
        raise TlsError(
            f"{tls_dir} holds only one of {CA_CERT} and {CA_KEY}: restore the other, or move "
            "both away to make a new CA (every agent and context must then trust it again)"
        )
    if cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TlsError(f"{key_path}: not an EC key this hub made")
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"edgeplane hub CA {os.urandom(4).hex()}")]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return cert, key


def _sans(listen_host: str, extras: tuple[str, ...]) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", *extras]
    if listen_host in ("0.0.0.0", "::", ""):
        # Every address of the host: its name is what remote agents most likely dial.
        names.append(socket.gethostname())
    else:
        names.append(listen_host)
    unique = list(dict.fromkeys(n.lower() for n in names))
    if len(unique) > MAX_SANS:
        raise TlsError(f"--tls-san: at most {MAX_SANS} names in all")
    return unique


def _serving_certificate(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, sans: list[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgeplane hub")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in sans]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    """Write atomically; a key is 0600 from its first byte, whatever the umask."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600 if private else 0o644)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
