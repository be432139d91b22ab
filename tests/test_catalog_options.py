"""Catalog options the sibling systems need to move off prometheus_client, each on both sinks (own and sdk).

Info kind, no common labels, ``secret: false`` labels, per-label fold policy (``fold_to``, ``keep_unknown``), series
at 0 from configure (``start_at_zero``), measurements kept from before configure, prometheus_client's float spelling
of bucket boundaries, and gauges with ``inc``/``dec``.
"""

from __future__ import annotations

import textwrap
import threading

import pytest
from prometheus_client.utils import floatToGoString

import lukhas_obs
from lukhas_obs import _state, instruments
from lukhas_obs.catalog import load_catalog, register
from lukhas_obs.errors import CatalogError
from tests.support.scrape import scrape

CATALOG = """
catalog: {name}
common_attributes: []
start_at_zero: true
attributes:
  version: {{}}
  state: {{}}
  signature_fractale: {{secret: false}}
  layer:
    values: [short, long]
    fold_to: unknown
  tool_name:
    values: [a, b]
    keep_unknown: true
  comment: {{}}
metrics:
  - name: {p}_system_info
    kind: info
    description: Facts about the system.
    attributes: [version, state, signature_fractale]
  - name: {p}_phi_value
    kind: gauge
    description: The current value.
  - name: {p}_stores_total
    kind: counter
    description: Stores by layer.
    attributes: [layer, signature_fractale, comment]
  - name: {p}_tool_calls_total
    kind: counter
    description: Calls by tool.
    attributes: [tool_name]
  - name: {p}_calls_total
    kind: counter
    description: Calls.
  - name: {p}_latency_seconds
    kind: histogram
    unit: s
    description: Latency.
    buckets: [1, 2.5, 5, 1000000]
"""

_COUNTER = iter(range(10_000))


@pytest.fixture
def cat(tmp_path):
    """A fresh catalog (names are process-wide: each test gets its own prefix)."""
    n = next(_COUNTER)
    path = tmp_path / "c.yaml"
    path.write_text(CATALOG.format(name=f"opt_{n}", p=f"opt{n}"))
    catalog = register(load_catalog(path))
    return f"opt{n}", catalog


def _lines(prefix: str, telemetry) -> list[str]:
    body = scrape(telemetry.metrics_url).body
    return [line for line in body.splitlines() if line.startswith(prefix)]


@pytest.fixture(params=["own", "sdk"])
def aggregation(request):
    return request.param


def _configure(aggregation: str):
    return lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)


def test_info_no_common_labels_and_unscrubbed_declared_labels(cat, aggregation):
    p, _ = cat
    facts = lukhas_obs.info(f"{p}_system_info")
    facts.info({"version": "0.2", "state": "dormant", "signature_fractale": "R10-F11-V6-d7-l2"})
    telemetry = _configure(aggregation)
    lines = _lines(p, telemetry)
    assert f'{p}_system_info{{signature_fractale="R10-F11-V6-d7-l2",state="dormant",version="0.2"}} 1.0' in lines
    facts.info(version="0.3", state="awake", signature_fractale="x")  # replaces: the old set disappears
    info_lines = [line for line in _lines(p, telemetry) if line.startswith(f"{p}_system_info")]
    assert info_lines == [f'{p}_system_info{{signature_fractale="x",state="awake",version="0.3"}} 1.0']
    assert not any("lane=" in line or "service=" in line for line in _lines(p, telemetry))


def test_start_at_zero_and_float_bucket_spelling(cat, aggregation):
    p, _ = cat
    telemetry = _configure(aggregation)
    lines = _lines(p, telemetry)
    assert f"{p}_phi_value 0.0" in lines
    assert f"{p}_calls_total 0.0" in lines
    assert f"{p}_stores_total 0.0" not in " ".join(lines)  # labelled metrics have no series until recorded
    lukhas_obs.histogram(f"{p}_latency_seconds").record(2)
    les = [line.split('le="')[1].split('"')[0] for line in _lines(p, telemetry) if "_bucket" in line]
    assert les[:3] == [floatToGoString(b) for b in (1, 2.5, 5)] == ["1.0", "2.5", "5.0"]  # prometheus_client's
    # A documented difference (docs/MIGRATION.md): from 1e6 up prometheus_client writes "1e+06", the OTel exporter
    # (whose output lukhas-obs reproduces byte for byte) "1000000.0".
    assert les[3:] == ["1000000.0", "+Inf"] and floatToGoString(1e6) == "1e+06"
    if aggregation == "own":  # the own aggregation also shows an untouched histogram at 0, as prometheus_client
        lukhas_obs.shutdown()
        telemetry = _configure(aggregation)
        assert f"{p}_latency_seconds_count 0.0" in _lines(p, telemetry)


def test_fold_policies(cat, aggregation):
    p, _ = cat
    telemetry = _configure(aggregation)
    lukhas_obs.counter(f"{p}_stores_total").add(layer="weird")
    lukhas_obs.counter(f"{p}_stores_total").add(layer="short")
    lukhas_obs.counter(f"{p}_tool_calls_total").add(tool_name="zzz")
    lines = _lines(p, telemetry)
    assert f'{p}_stores_total{{layer="unknown"}} 1.0' in lines
    assert f'{p}_stores_total{{layer="short"}} 1.0' in lines
    assert f'{p}_tool_calls_total{{tool_name="zzz"}} 1.0' in lines


def test_secret_false_is_unscrubbed_but_other_labels_still_are(cat, aggregation):
    p, _ = cat
    telemetry = _configure(aggregation)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    lukhas_obs.counter(f"{p}_stores_total").add(layer="short", signature_fractale=jwt, comment=jwt)
    (line,) = [line for line in _lines(p, telemetry) if "signature_fractale" in line]
    assert f'signature_fractale="{jwt}"' in line  # declared not a secret: recorded as given (SECURITY.md)
    assert f'comment="{jwt}"' not in line  # an ordinary free-form label is still scrubbed


def test_a_credential_like_label_is_refused_unless_declared_not_secret(tmp_path):
    refused = textwrap.dedent(
        """
        catalog: opt_refused
        attributes:
          token_id: {}
        metrics:
          - name: opt_refused_scores
            kind: gauge
            description: Scores.
            attributes: [token_id]
        """
    )
    path = tmp_path / "r.yaml"
    path.write_text(refused)
    with pytest.raises(CatalogError, match="looks like a credential"):
        register(load_catalog(path))
    path.write_text(refused.replace("token_id: {}", "token_id: {secret: false}"))
    register(load_catalog(path))


def test_secret_accepts_only_false(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "catalog: opt_secret\nattributes:\n  token_id: {secret: true}\nmetrics:\n"
        "  - {name: opt_secret_x, kind: gauge, description: x, attributes: [token_id]}\n"
    )
    with pytest.raises(CatalogError, match="secret"):
        load_catalog(path)


def test_gauge_inc_dec_set_on_unbound_and_bound(cat, aggregation):
    p, _ = cat
    telemetry = _configure(aggregation)
    gauge = lukhas_obs.gauge(f"{p}_phi_value")
    gauge.inc()
    gauge.inc(2.5)
    gauge.dec(0.5)
    assert f"{p}_phi_value 3.0" in _lines(p, telemetry)
    gauge.set(10)
    bound = gauge.bind()
    bound.dec(4)
    bound.inc()
    assert f"{p}_phi_value 7.0" in _lines(p, telemetry)
    gauge.inc(float("nan"))  # dropped and counted, the value stays
    assert f"{p}_phi_value 7.0" in _lines(p, telemetry)


def test_gauge_inc_dec_from_threads_loses_nothing(cat, aggregation):
    p, _ = cat
    telemetry = _configure(aggregation)
    gauge = lukhas_obs.gauge(f"{p}_phi_value")

    def work() -> None:
        for _ in range(2000):
            gauge.inc(3)
            gauge.dec()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert f"{p}_phi_value 16000.0" in _lines(p, telemetry)


def test_measurements_before_configure_are_kept_and_bounded(cat, monkeypatch):
    p, _ = cat
    monkeypatch.setattr(instruments, "_early", [])
    monkeypatch.setattr(instruments, "_early_overflowed", False)
    monkeypatch.setattr(_state, "collecting_early", True)
    monkeypatch.setattr(instruments, "EARLY_LIMIT", 5)
    calls = lukhas_obs.counter(f"{p}_calls_total")
    for _ in range(8):
        calls.add(1)  # 5 kept, 3 counted as dropped
    lukhas_obs.gauge(f"{p}_phi_value").inc(2)
    telemetry = _configure("own")
    lines = _lines(p, telemetry)
    assert f"{p}_calls_total 5.0" in lines
    assert f"{p}_phi_value 0.0" in lines  # the 6th early measurement onwards was not kept
    dropped = scrape(telemetry.metrics_url).samples("lukhas_obs_dropped_measurements_total")
    assert any(s.labels["reason"] == "before_configure" for s in dropped)
    telemetry.shutdown()
    calls.add(100)  # after a shutdown nothing is kept for later
    telemetry = _configure("own")
    assert f"{p}_calls_total 0.0" in _lines(p, telemetry)


def test_a_process_that_never_configures_keeps_bounded_memory(cat, monkeypatch):
    p, _ = cat
    monkeypatch.setattr(instruments, "_early", [])
    monkeypatch.setattr(instruments, "_early_overflowed", False)
    monkeypatch.setattr(_state, "collecting_early", True)
    monkeypatch.setattr(instruments, "EARLY_LIMIT", 100)
    calls = lukhas_obs.counter(f"{p}_calls_total")
    bound = calls.bind()
    for _ in range(20_000):
        calls.add(1)
        bound.add(1)
        calls.add(1, unknown="x")
    assert len(instruments._early) == 100  # not 59,900 more entries
    assert instruments._early_overflowed and not _state.collecting_early  # handles now take their no-op path


def test_info_name_must_end_in_info(tmp_path):
    path = tmp_path / "i.yaml"
    path.write_text("catalog: opt_info\nmetrics:\n  - {name: opt_info_system, kind: info, description: x}\n")
    with pytest.raises(CatalogError, match="must end in '_info'"):
        load_catalog(path)
