"""Secrets never leave the process: one scrubber for spans, events, exceptions, metric attributes, resource and logs."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import lukhas_obs
from lukhas_obs.catalog import AttributeSpec, Catalog, MetricSpec, register
from lukhas_obs.errors import CatalogError
from lukhas_obs.scrubbing import Scrubber, ScrubbingLogFilter, ScrubbingSpanExporter
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLXNlY3JldA"
PASSWORD = "correct-horse-battery-staple-71"
TOTP_SEED = "JBSWY3DPEHPK3PXPQ7Z2"
API_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c"
ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQxMjM$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
CARD = "4111 1111 1111 1111"
SECRETS = (JWT, PASSWORD, TOTP_SEED, API_KEY, ARGON2, CARD, "c2lnbmF0dXJlLXNlY3JldA")


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("password", "password"),
        ("user.password_hash", "password"),
        ("http.request.header.authorization", "authorization"),
        ("http.request.header.cookie", "cookie"),
        ("apiKey", "api-key"),
        ("x-api-key", "api-key"),
        ("totp_seed", "totp"),
        ("session.id", "session"),
        ("csrf_token", "csrf"),
        ("private_key", "private-key"),
        ("creditCardNumber", "credit-card"),
        ("jwt", "jwt"),
        ("client_secret", "secret"),
    ],
)
def test_sensitive_names_are_recognised(key, rule):
    assert Scrubber().key_rule(key) == rule


@pytest.mark.parametrize(
    "key", ["tokens_used", "author", "auth.ok", "auth.reason", "mem.meta.size", "k", "phase", "tier", "component"]
)
def test_ordinary_names_are_left_alone(key):
    assert Scrubber().key_rule(key) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {API_KEY}", "Authorization: Bearer [REDACTED:authorization]"),
        (f"token {JWT} rejected", "token [REDACTED:jwt] rejected"),
        (f"login failed password={PASSWORD} user=bob", "login failed password=[REDACTED:password] user=bob"),
        (f'{{"api_key": "{API_KEY}"}}', '{"api_key": "[REDACTED:api_key]"}'),
        ("postgres://bob:hunter2pass@db:5432/mem", "postgres://bob:[REDACTED:url-password]@db:5432/mem"),
        (f"stored {ARGON2} for bob", "stored [REDACTED:password-hash] for bob"),
        (f"card {CARD} declined", "card [REDACTED:credit-card] declined"),
        ("order 1234567890123 shipped", "order 1234567890123 shipped"),  # not Luhn-valid: kept
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[REDACTED:private-key]"),
        ("invalid password for user bob", "invalid password for user bob"),  # the word alone is not a secret
    ],
)
def test_secret_shapes_are_replaced_and_the_rest_kept(text, expected):
    assert Scrubber().scrub_text(text) == expected


def test_extra_patterns_and_allow_list():
    scrubber = Scrubber(extra_patterns=[r"LUKHAS-[0-9]{6}"], allow=["session.id"])
    assert scrubber.scrub_text("ticket LUKHAS-123456 open") == "ticket [REDACTED:pattern:LUKHAS-[0-9]{6}] open"
    assert scrubber.scrub_value("session.id", "abc") == "abc"
    assert scrubber.scrub_value("lukhas-123456-note", "x") == "[REDACTED:pattern:LUKHAS-[0-9]{6}]"


def test_span_exporter_wrapper_scrubs_attributes_events_exceptions_and_status():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(memory, Scrubber())))
    tracer = provider.get_tracer("t")
    with pytest.raises(ValueError), tracer.start_as_current_span("identity.authenticate_T2") as span:
        span.set_attribute("user.password", PASSWORD)
        span.set_attribute("http.request.header.authorization", f"Bearer {JWT}")
        span.set_attribute("note", f"seed totp={TOTP_SEED}")
        span.add_event("retry", {"api_key": API_KEY, "attempt": 2})
        raise ValueError(f"token {JWT} expired for password={PASSWORD}")
    (exported,) = memory.get_finished_spans()
    text = repr(exported.attributes) + repr([e.attributes for e in exported.events]) + str(exported.status)
    for secret in (PASSWORD, JWT, TOTP_SEED, API_KEY):
        assert secret not in text
    assert exported.attributes["user.password"] == "[REDACTED:password]"
    assert exported.attributes["note"] == "seed totp=[REDACTED:totp]"
    assert exported.events[0].attributes["attempt"] == 2
    exception = next(e for e in exported.events if e.name == "exception").attributes
    assert exception["exception.type"] == "ValueError"
    assert exception["exception.message"] == "token [REDACTED:jwt] expired for password=[REDACTED:password]"


def test_log_filter_scrubs_formatted_messages():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "retrying with %s", (f"Bearer {API_KEY}",), None)
    ScrubbingLogFilter().filter(record)
    assert record.getMessage() == "retrying with Bearer [REDACTED:authorization]"


def test_a_catalog_cannot_declare_a_credential_as_a_label():
    leaky = Catalog(
        name="leaky_labels",
        metrics=(
            MetricSpec(
                name="leaky_logins_total",
                otel_name="leaky.logins",
                kind="counter",
                unit="1",
                description="logins",
                attributes=(AttributeSpec("session_token"),),
            ),
        ),
    )
    with pytest.raises(CatalogError) as err:
        register(leaky)
    assert "attribute 'session_token' looks like a credential" in str(err.value)


@pytest.mark.e2e
def test_no_secret_reaches_any_signal(tmp_path, monkeypatch, caplog, capfd):
    """Every byte lukhas-obs emits — /metrics, OTLP payloads, the trace file, logs — is free of the known secrets."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"team=core,deploy.api_key={API_KEY}")
    with OtlpReceiver("http") as receiver:
        trace_file = tmp_path / "traces.jsonl"
        telemetry = lukhas_obs.configure(
            prometheus_port=0,
            otlp_endpoint=receiver.endpoint,
            otlp_headers={"authorization": f"Bearer {API_KEY}"},
            traces_exporter="otlp,file",
            traces_file=trace_file,
        )
        tracer = lukhas_obs.get_tracer("leaky-app")
        caplog.set_level(logging.DEBUG)
        for _ in range(3):
            try:
                with tracer.start_as_current_span("identity.authenticate_T3") as span:
                    span.set_attribute("totp.seed", TOTP_SEED)
                    span.set_attribute("credentials", [PASSWORD, JWT])
                    span.set_attribute("detail", f"hash {ARGON2} card {CARD}")
                    span.add_event("header", {"cookie": f"sid={JWT}"})
                    raise PermissionError(f"bad totp for password={PASSWORD} token={JWT}")
            except PermissionError:
                pass
        lukhas_obs.metric("lukhas_memory_docs_total").add(1, lane=f"Bearer {API_KEY}")
        lukhas_obs.metric("lukhas_auth_failures_total").add(1, tier="T3", reason=PASSWORD)
        logging.getLogger("lukhas_obs").warning("exporter said: Authorization: Bearer %s", API_KEY)
        metrics_body = scrape(telemetry.metrics_url).body
        assert lukhas_obs.force_flush(timeout=10)
        assert receiver.wait_for(lambda r: r.spans() and r.metrics(), timeout=10)
        payloads = b"".join(
            m.SerializeToString() for m in [*receiver.trace_requests, *receiver.metric_requests]
        ).decode("latin-1") + "".join(str(m) for m in [*receiver.trace_requests, *receiver.metric_requests])
        lukhas_obs.shutdown()
    out, err = capfd.readouterr()
    emitted = {
        "/metrics": metrics_body,
        "otlp": payloads,
        "trace file": trace_file.read_text(),
        "logs": caplog.text + out + err,
    }
    assert "[REDACTED:totp]" in emitted["trace file"]  # the test really exercised the scrubber
    assert "team" in emitted["/metrics"]  # and target_info really carried the resource
    for where, data in emitted.items():
        for secret in SECRETS:
            assert secret not in data, f"secret {secret[:6]}… leaked into {where}"
