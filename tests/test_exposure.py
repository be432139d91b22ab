"""/metrics exposure: loopback by default, optional basic/bearer auth and TLS, /health reveals nothing internal."""

from __future__ import annotations

import base64
import datetime
import ssl
import urllib.error
import urllib.request

import pytest

import lukhas_obs
from lukhas_obs import ConfigurationError


def _get(url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_metrics_bind_loopback_unless_told_otherwise():
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    assert telemetry.metrics_server.host == "127.0.0.1"
    assert telemetry.settings.prometheus_host == "127.0.0.1"


def test_bearer_token_protects_metrics_but_not_health():
    token = "scrape-token-0123456789abcdef"
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", metrics_bearer_token=token)
    lukhas_obs.metric("lukhas_memory_docs_total").add(1)
    url = telemetry.metrics_url
    assert _get(url)[0] == 401
    assert _get(url, {"Authorization": "Bearer wrong-token-0123456789abc"})[0] == 401
    status, body = _get(url, {"Authorization": f"Bearer {token}"})
    assert status == 200 and b"lukhas_memory_docs_total" in body
    status, body = _get(url.replace("/metrics", "/health"))
    assert (status, body) == (200, b'{"status": "ok"}')
    assert token not in repr(telemetry.settings)


def test_basic_auth_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUKHAS_METRICS_BASIC_AUTH", "prometheus:s3cure-scrape-pass")
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    good = base64.b64encode(b"prometheus:s3cure-scrape-pass").decode()
    bad = base64.b64encode(b"prometheus:guess").decode()
    status, _ = _get(telemetry.metrics_url)
    assert status == 401
    assert _get(telemetry.metrics_url, {"Authorization": f"Basic {bad}"})[0] == 401
    assert _get(telemetry.metrics_url, {"Authorization": f"Basic {good}"})[0] == 200


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"metrics_bearer_token": "short"}, "at least 16 characters"),
        ({"metrics_basic_auth": "nocolon"}, "'user:password'"),
        ({"metrics_tls_cert": "/nonexistent/cert.pem", "metrics_tls_key": "/nonexistent/key.pem"}, "PEM file"),
        ({"metrics_tls_cert": __file__}, "both metrics_tls_cert and metrics_tls_key"),
    ],
)
def test_bad_exposure_settings_fail_at_configure(kwargs, fragment):
    with pytest.raises(ConfigurationError) as err:
        lukhas_obs.configure(prometheus_port=0, **kwargs)
    assert fragment in str(err.value)
    assert "short" not in str(err.value) or "metrics_bearer_token='<redacted>'" in str(err.value)


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_serves_https_and_refuses_plain_http(tmp_path):
    cert, key = _self_signed(tmp_path)
    telemetry = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="none", metrics_tls_cert=cert, metrics_tls_key=key
    )
    assert telemetry.metrics_url.startswith("https://127.0.0.1:")
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.3)
    context = ssl.create_default_context(cafile=str(cert))
    status, body = _get(telemetry.metrics_url, context=context)
    assert status == 200 and b"lukhas_dream_backpressure" in body
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(telemetry.metrics_url.replace("https://", "http://"), timeout=5)


def test_mismatched_tls_key_is_a_configuration_error(tmp_path):
    cert, _ = _self_signed(tmp_path)
    _, other_key = _self_signed(tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path)
    with pytest.raises(ConfigurationError) as err:
        lukhas_obs.configure(prometheus_port=0, metrics_tls_cert=cert, metrics_tls_key=other_key)
    assert "metrics_tls_cert" in str(err.value)
