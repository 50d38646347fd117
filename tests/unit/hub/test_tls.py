"""The hub's own TLS material: made once, keys private, names checked, flags refused
in combinations that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from edgeplane.hub.server import warn_plain_http
from edgeplane.hub.tls import TlsError, TlsOptions, checked_san, fingerprint_of, prepare


def test_own_ca_is_made_once_and_its_fingerprint_is_stable(tmp_path: Path) -> None:
    first = prepare(TlsOptions(sans=("hub.example.com", "10.0.0.7")), tmp_path, "0.0.0.0")
    assert first is not None
    cert = x509.load_pem_x509_certificate(first.certfile.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "hub.example.com"} <= set(sans.get_values_for_type(x509.DNSName))
    assert "10.0.0.7" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    again = prepare(TlsOptions(), tmp_path, "127.0.0.1")  # a restart signs a new cert
    assert again is not None
    assert first.ca_pem == again.ca_pem and first.fingerprint == again.fingerprint
    assert first.fingerprint == fingerprint_of(first.ca_pem)
    assert first.fingerprint.startswith("sha256:") and len(first.fingerprint) == 7 + 64
    for key in ("ca.key", "server.key"):
        assert (tmp_path / "tls" / key).stat().st_mode & 0o777 == 0o600


def test_operator_certificate_is_served_and_its_last_certificate_pinned(tmp_path: Path) -> None:
    own = prepare(TlsOptions(), tmp_path / "a", "127.0.0.1")
    assert own is not None
    given = prepare(TlsOptions(cert=own.certfile, key=own.keyfile), tmp_path / "b", "127.0.0.1")
    assert given is not None and given.certfile == own.certfile
    assert given.fingerprint == fingerprint_of(own.certfile.read_text())
    assert not (tmp_path / "b" / "tls").exists()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (TlsOptions(plain_http=True, client_ca=Path("/x")), "cannot be combined"),
        (TlsOptions(cert=Path("/nonexistent.crt")), "go together"),
        (TlsOptions(cert=Path("/nonexistent.crt"), key=Path("/k")), "cannot be used"),
        (TlsOptions(client_ca=Path("/nonexistent-ca.crt")), "no such file"),
        (TlsOptions(sans=("bad name\n",)), "--tls-san"),
    ],
    ids=["plain-with-tls", "cert-without-key", "missing-files", "missing-client-ca", "bad-san"],
)
def test_unusable_flags_fail_the_start_with_a_fix(
    tmp_path: Path, options: TlsOptions, expected: str
) -> None:
    with pytest.raises(TlsError, match=expected):
        prepare(options, tmp_path, "127.0.0.1")


def test_plain_http_has_no_tls(tmp_path: Path) -> None:
    assert prepare(TlsOptions(plain_http=True), tmp_path, "127.0.0.1") is None
    assert not (tmp_path / "tls").exists()


@pytest.mark.parametrize("value", ["hub.example.com\n", "a b", "-x.com", "", "x" * 300])
def test_san_names_are_fully_matched(value: str) -> None:
    with pytest.raises(TlsError):
        checked_san(value)


def test_half_a_ca_is_refused(tmp_path: Path) -> None:
    prepare(TlsOptions(), tmp_path, "127.0.0.1")
    (tmp_path / "tls" / "ca.key").unlink()
    with pytest.raises(TlsError, match="only one of"):
        prepare(TlsOptions(), tmp_path, "127.0.0.1")


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("::1", False), ("localhost", False), ("0.0.0.0", True)],
    ids=["loopback", "loopback-v6", "localhost", "every-address"],
)
def test_plain_http_warns_off_loopback_only(
    capsys: pytest.CaptureFixture[str], host: str, warned: bool
) -> None:
    warn_plain_http(host)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("WARNING: serving plain HTTP" in captured.err) is warned
