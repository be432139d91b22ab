"""The demo workload handles real secrets (passwords, argon2 hashes, TOTP seeds, JWTs, signing keys, an OTLP API key
header); every byte lukhas-obs emits for it — /metrics, OTLP payloads, the trace file, logs — is free of them."""

from __future__ import annotations

import base64
import logging

import pytest

import lukhas_obs
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape

API_KEY = "otlp-ingest-key-7d1f0c9e8b"


class _Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_demo_workload_leaks_no_secret_into_any_signal(tmp_path, capfd, protocol):
    workload_module = pytest.importorskip("lukhas_obs_examples.lukhas_core.workload")
    service_module = pytest.importorskip("lukhas_obs_examples.lukhas_core.service")
    logs = _Recording()
    logging.getLogger().addHandler(logs)
    try:
        with OtlpReceiver(protocol) as receiver:
            trace_file = tmp_path / "traces.jsonl"
            telemetry = lukhas_obs.configure(
                prometheus_port=0,
                otlp_endpoint=receiver.endpoint,
                otlp_protocol=protocol,
                otlp_headers={"x-api-key": API_KEY},
                traces_exporter="otlp,file",
                traces_file=trace_file,
            )
            workload = workload_module.LukhasCoreWorkload(seed=7)
            tokens = []
            for iteration in range(12):  # two full rotations of the negative paths
                workload.step(iteration)
                tokens.append(workload.core.issue_token(workload.user.user))
            metrics_body = scrape(telemetry.metrics_url).body
            assert lukhas_obs.force_flush(timeout=10)
            assert receiver.wait_for(lambda r: r.spans() and r.metrics(), timeout=10)
            requests = [*receiver.trace_requests, *receiver.metric_requests]
            otlp_bytes = b"".join(m.SerializeToString() for m in requests)
            otlp_text = "".join(str(m) for m in requests)
            headers_seen = receiver.headers
            lukhas_obs.shutdown()
    finally:
        logging.getLogger().removeHandler(logs)
    out, err = capfd.readouterr()

    user, core = workload.user, workload.core
    record = core.users[user.user]
    secrets = {
        "password": user.password.encode(),
        "argon2 hash": record.password_hash.encode(),
        "totp seed (raw)": user.totp_secret,
        "totp seed (base32)": base64.b32encode(user.totp_secret).rstrip(b"="),
        "jwt signing key": core.secret(service_module.KID),
        "issued jwt": tokens[-1].encode(),
        "jwt signature": tokens[-1].rsplit(".", 1)[1].encode(),
        "otlp api key": API_KEY.encode(),
    }
    emitted = {
        "/metrics": metrics_body.encode(),
        "otlp payload": otlp_bytes + otlp_text.encode(),
        "trace file": trace_file.read_bytes(),
        "logs": "\n".join(logs.lines).encode() + out.encode() + err.encode(),
    }
    assert b"identity.authenticate_T2" in emitted["trace file"] and b"lukhas_auth_failures_total" in emitted["/metrics"]
    assert all(h.get("x-api-key") == API_KEY for h in headers_seen)  # the header did its job on the wire…
    for where, data in emitted.items():
        for name, secret in secrets.items():
            assert secret not in data, f"{name} leaked into {where}"  # …and appears in no signal
