"""lukhas_obs.testing: the lukhas_telemetry fixture, its assertions, and the pytest plugin seen from outside."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import lukhas_obs
import lukhas_obs.spans as spans_module
from lukhas_obs import catalog as catalog_module
from lukhas_obs.testing import FakeClock, capture_telemetry

PLUGIN = "lukhas_obs.testing.plugin"
#: The plugin's fixture for this module's own tests (by its module name: the entry point, once installed, has the
#: same name, so the plugin is registered once).
pytest_plugins = [PLUGIN]
#: The pytest11 entry point line proposed for pyproject.toml (its name is the module's: see the dist-info test).
ENTRY_POINT = (PLUGIN, PLUGIN)

APP_CATALOG = """\
catalog: plugin_app
common_attributes: [service]
attributes:
  outcome: {description: How a checkout ended., values: [ok, declined]}
  note: {description: Free text.}
metrics:
  - name: plugin_app_checkouts_total
    otel_name: plugin_app.checkouts
    kind: counter
    unit: "{checkout}"
    description: Checkouts by outcome
    attributes: [outcome, note]
  - name: plugin_app_checkout_seconds
    otel_name: plugin_app.checkout
    kind: histogram
    unit: s
    buckets: [0.01, 0.1, 1.0]
    description: Checkout latency
    attributes: [outcome]
spans:
  - name: plugin_app.checkout
    component: checkout
    attributes: [cart.size]
"""


@pytest.fixture
def app_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "plugin_app.yaml"
    path.write_text(APP_CATALOG, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ in-process behaviour


def test_fixture_reads_counters_histograms_gauges_and_spans_by_catalog_name(lukhas_telemetry) -> None:
    lukhas_obs.counter("lukhas_auth_failures_total").add(2, tier="T2", reason="expired")
    lukhas_obs.counter("lukhas_auth_failures_total").add(1, tier="T3", reason="expired")
    lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.02)
    lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.3)
    lukhas_obs.gauge("lukhas_dream_backpressure").set(0.25)
    with lukhas_obs.span("memory.query", k=8):
        pass

    lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 2, tier="T2")
    lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 3)  # summed over series
    lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 0, tier="T5")  # never recorded
    lukhas_telemetry.assert_histogram("lukhas_memory_search_seconds", count=2, sum=0.32, buckets={0.025: 1, 0.5: 2})
    lukhas_telemetry.assert_gauge("lukhas_dream_backpressure", 0.25)
    lukhas_telemetry.assert_no_drops()
    span = lukhas_telemetry.assert_span("memory.query", attributes={"k": 8}, count=1, status="unset")
    assert span.attributes["component"] == "memory"
    view = lukhas_telemetry.metric("lukhas_memory_search_seconds")
    assert view.bucket(0.025) == 1 and view.count() == 2
    assert lukhas_telemetry.metric("lukhas_auth_failures_total").value(tier="T3", reason="expired") == 1
    assert set(lukhas_telemetry.metrics()) >= {"lukhas_auth_failures_total", "lukhas_dream_backpressure"}


def test_assertions_fail_with_what_was_found(lukhas_telemetry) -> None:
    failures = lukhas_obs.counter("lukhas_auth_failures_total")
    failures.add(2, tier="T2", reason="expired")
    lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.02)

    with pytest.raises(AssertionError) as wrong_value:
        lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 3, tier="T2")
    text = str(wrong_value.value)
    assert 'lukhas_auth_failures_total{tier="T2"}: expected 3, found 2' in text
    assert '{lane="candidate",reason="expired",service="lukhas",tier="T2"} 2' in text

    with pytest.raises(AssertionError, match=r"did you mean lukhas_auth_failures_total\?"):
        lukhas_telemetry.assert_counter("lukhas_auth_failure_total", 1)
    with pytest.raises(AssertionError, match=r"'tear' is not an attribute .* its attributes: lane, reason"):
        lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 2, tear="T2")
    with pytest.raises(AssertionError, match=r"count: expected 5, found 1.*\n.*series of lukhas_memory_search"):
        lukhas_telemetry.assert_histogram("lukhas_memory_search_seconds", count=5)
    with pytest.raises(AssertionError, match=r"0\.03 is not a bucket boundary .* 0\.025"):
        lukhas_telemetry.assert_histogram("lukhas_memory_search_seconds", buckets={0.03: 1})
    with pytest.raises(AssertionError, match="has no series"):
        lukhas_telemetry.assert_gauge("lukhas_dream_backpressure", 0.5)
    with pytest.raises(AssertionError, match="is a histogram"):
        lukhas_telemetry.metric("lukhas_memory_search_seconds").value()

    failures.add(-1, tier="T2", reason="expired")  # refused: counted as a drop
    with pytest.raises(AssertionError) as dropped:
        lukhas_telemetry.assert_no_drops()
    assert (
        'lukhas_obs_dropped_measurements_total{metric="lukhas_auth_failures_total",reason="negative_increment"} 1'
        in str(dropped.value)
    )
    lukhas_telemetry.assert_no_drops(ignore=["negative_increment"])

    with lukhas_obs.span("memory.query", k=8):
        pass
    with pytest.raises(AssertionError, match=r"no finished span 'memory.add_event'\n.*\n    memory.query ×1"):
        lukhas_telemetry.assert_span("memory.add_event")
    with pytest.raises(AssertionError, match=r"attribute 'k' is 8, expected 9"):
        lukhas_telemetry.assert_span("memory.query", attributes={"k": 9})


def test_label_values_that_need_escaping_are_matched(app_catalog: Path) -> None:
    """Attack: quotes, backslashes, newlines and non-ASCII in a label value survive the exposition round trip."""
    hostile = 'a "quoted"\\ value\nwith a newline and ünïcode'
    with capture_telemetry(catalogs=[app_catalog]) as captured:
        lukhas_obs.counter("plugin_app_checkouts_total").add(1, outcome="ok", note=hostile)
        captured.assert_counter("plugin_app_checkouts_total", 1, note=hostile)
        captured.assert_counter("plugin_app_checkouts_total", 0, note="a")


def test_deterministic_ids_and_clock() -> None:
    real_time_ns = spans_module.time_ns
    with capture_telemetry(deterministic=True) as captured:
        start = captured.clock.now_ns
        with lukhas_obs.span("memory.add_event", lane="x"):
            captured.clock.advance(0.25)
            with lukhas_obs.span("memory.query", k=1):
                captured.clock.advance(0.012)
        outer = captured.assert_span("memory.add_event")
        inner = captured.assert_span("memory.query")
        assert (outer.context.trace_id, outer.context.span_id, inner.context.span_id) == (1, 1, 2)
        assert inner.parent.span_id == 1
        assert outer.start_time == start
        assert inner.end_time - inner.start_time == 12_000_000
        assert outer.end_time - outer.start_time == 262_000_000
    assert spans_module.time_ns is real_time_ns  # the clock is put back
    with capture_telemetry() as again:  # without deterministic: random ids, real time
        with lukhas_obs.span("memory.query", k=1):
            pass
        span = again.assert_span("memory.query")
        assert span.context.trace_id > 2**64 and abs(span.end_time - time.time_ns()) < 60e9


def test_fake_clock_refuses_bad_values() -> None:
    for bad in (-1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError):
            FakeClock().advance(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FakeClock(start_ns=-5)


def test_previous_configuration_is_set_aside_and_restored(tmp_path: Path) -> None:
    previous = lukhas_obs.configure(serve_metrics=False, traces_exporter="none", service="outer")
    memory = InMemorySpanExporter()
    previous.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    with capture_telemetry() as captured:
        assert lukhas_obs.active() is captured.telemetry is not previous
        with lukhas_obs.span("memory.query", k=1):
            pass
        lukhas_obs.counter("lukhas_memory_docs_total").add(3)
        captured.assert_counter("lukhas_memory_docs_total", 3, service="lukhas")
    assert lukhas_obs.active() is previous  # back, and still working
    assert memory.get_finished_spans() == ()  # the block's span did not reach the outer configuration
    lukhas_obs.counter("lukhas_memory_docs_total").add(1)
    body = lukhas_obs.render_exposition()[0].decode()
    assert 'lukhas_memory_docs_total{lane="candidate",service="outer"} 1.0' in body
    assert captured.telemetry.metrics_url is None


def test_state_is_inactive_after_the_block_even_when_the_block_raises_or_reconfigures() -> None:
    with pytest.raises(RuntimeError), capture_telemetry():
        raise RuntimeError("the test failed")
    assert lukhas_obs.active() is None
    with capture_telemetry():
        lukhas_obs.configure(reconfigure=True, serve_metrics=False, traces_exporter="none", lane="other")
    assert lukhas_obs.active() is None


def test_catalogs_registered_for_a_block_are_removed_with_their_handles(tmp_path: Path, app_catalog: Path) -> None:
    """Attack: the next test registers a different catalog with the same metric name (another label set)."""
    with capture_telemetry(catalogs=[app_catalog]) as captured:
        lukhas_obs.counter("plugin_app_checkouts_total").add(1, outcome="ok")
        captured.assert_counter("plugin_app_checkouts_total", 1, outcome="ok")
    assert "plugin_app" not in {c.name for c in catalog_module.catalogs()}

    changed = tmp_path / "changed.yaml"
    changed.write_text(APP_CATALOG.replace("values: [ok, declined]", "values: [ok, declined, refunded]"), "utf-8")
    with capture_telemetry(catalogs=[changed]) as captured:
        lukhas_obs.counter("plugin_app_checkouts_total").add(1, outcome="refunded")
        captured.assert_counter("plugin_app_checkouts_total", 1, outcome="refunded")  # not folded to "other"
        captured.assert_no_drops()
    with capture_telemetry(catalogs=["lukhas_core"]):  # already registered: kept afterwards
        pass
    assert "lukhas_core" in {c.name for c in catalog_module.catalogs()}


def test_machine_environment_does_not_leak_into_the_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-the-machine")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    with capture_telemetry() as captured:
        assert captured.telemetry.settings.otlp_metrics is None and captured.telemetry.settings.otlp_traces is None
        lukhas_obs.counter("lukhas_memory_docs_total").add(1)
        captured.assert_counter("lukhas_memory_docs_total", 1, service="lukhas")
    assert os.environ["OTEL_SERVICE_NAME"] == "from-the-machine"
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    with capture_telemetry(isolate_env=False) as captured:
        lukhas_obs.counter("lukhas_memory_docs_total").add(1)
        captured.assert_counter("lukhas_memory_docs_total", 1, service="from-the-machine")


def test_exporter_options_are_refused() -> None:
    for option in ("traces_file", "otlp_endpoint", "metrics_exporter", "reconfigure"):
        with pytest.raises(TypeError, match=option), capture_telemetry(**{option: "x"}):
            pass
    assert lukhas_obs.active() is None


def test_spans_are_scrubbed_like_every_exported_span(lukhas_telemetry) -> None:
    with lukhas_obs.span("memory.query", k=1, password="hunter2-correct-horse"):
        pass
    (span,) = lukhas_telemetry.spans("memory.*")
    assert "hunter2" not in repr(dict(span.attributes))


# ------------------------------------------------------------------------------------------ a project outside the repo

PROJECT_TEST = '''
import pytest

import lukhas_obs

CATALOG = {catalog!r}


def checkout(outcome, seconds):
    with lukhas_obs.span("plugin_app.checkout", **{{"cart.size": 3}}):
        lukhas_obs.counter("plugin_app_checkouts_total").add(1, outcome=outcome)
        lukhas_obs.histogram("plugin_app_checkout_seconds").record(seconds, outcome=outcome)


pytestmark = pytest.mark.lukhas_obs(catalogs=[CATALOG], service="shop")


def test_counts_pass(lukhas_telemetry):
    checkout("ok", 0.05)
    checkout("ok", 0.5)
    lukhas_telemetry.assert_counter("plugin_app_checkouts_total", 2, outcome="ok")
    lukhas_telemetry.assert_histogram("plugin_app_checkout_seconds", count=2, buckets={{0.1: 1}}, outcome="ok")
    lukhas_telemetry.assert_span("plugin_app.checkout", count=2, attributes={{"cart.size": 3}})
    lukhas_telemetry.assert_no_drops()


@pytest.mark.lukhas_obs(deterministic=True)
def test_ids_are_deterministic(lukhas_telemetry):
    checkout("declined", 0.01)
    assert lukhas_telemetry.assert_span("plugin_app.checkout").context.span_id == 1


def test_wrong_count_fails(lukhas_telemetry):
    checkout("ok", 0.05)
    lukhas_telemetry.assert_counter("plugin_app_checkouts_total", 5, outcome="ok")


def test_drop_fails(lukhas_telemetry):
    lukhas_obs.counter("plugin_app_checkouts_total").add(float("nan"), outcome="ok")
    lukhas_telemetry.assert_no_drops()


def test_state_is_clean_between_tests(lukhas_telemetry):
    lukhas_telemetry.assert_counter("plugin_app_checkouts_total", 0)
    assert lukhas_telemetry.spans() == []
'''


def _project(tmp_path: Path, app_catalog: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_shop.py").write_text(PROJECT_TEST.format(catalog=str(app_catalog)), encoding="utf-8")
    return project


def _other_plugins() -> list[str]:
    """``-p no:NAME`` for every other installed pytest plugin: the run sees lukhas-obs's alone (and starts fast)."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="pytest11") if ep.value != PLUGIN}
    return [arg for name in sorted(names) for arg in ("-p", f"no:{name}")]


def _pytest(project: Path, *args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``project`` in a fresh interpreter whose working directory is the project (not this repo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LUKHAS_", "OTEL_"))}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_other_plugins()]
    return subprocess.run(
        [*command, "--rootdir", str(project), *args, str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _check_project_outcome(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "2 failed, 3 passed" in out, out
    assert 'plugin_app_checkouts_total{outcome="ok"}: expected 5, found 1' in out
    assert '{outcome="ok",service="shop"} 1' in out
    assert 'lukhas_obs_dropped_measurements_total{metric="plugin_app_checkouts_total",reason="nan"} 1' in out


def test_a_project_outside_the_repository_uses_the_plugin(tmp_path: Path, app_catalog: Path) -> None:
    """Done-when: a test project in a temporary directory runs the fixture; its assertions pass and fail as they
    should. The plugin is loaded with ``-p`` (install-free); the next test loads it through the entry point."""
    project = _project(tmp_path, app_catalog)
    _check_project_outcome(_pytest(project, "-p", PLUGIN))


def _fake_distribution(tmp_path: Path, name: str) -> Path:
    site = tmp_path / "site"
    info = site / "lukhas_obs_plugin_probe-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lukhas-obs-plugin-probe\nVersion: 0\n", "utf-8")
    (info / "entry_points.txt").write_text(f"[pytest11]\n{name} = {PLUGIN}\n", "utf-8")
    return site


def test_the_proposed_entry_point_loads_the_plugin_and_coexists_with_dash_p(tmp_path: Path, app_catalog: Path) -> None:
    """The pytest11 line proposed for pyproject.toml, installed as a distribution of its own: the plugin loads
    without ``-p``; with ``-p lukhas_obs.testing.plugin`` as well it is not registered twice (its name is the
    module's), and ``-p no:lukhas_obs.testing.plugin`` turns it off."""
    site = _fake_distribution(tmp_path, ENTRY_POINT[0])
    project = _project(tmp_path, app_catalog)
    _check_project_outcome(_pytest(project, pythonpath=str(site)))
    _check_project_outcome(_pytest(project, "-p", PLUGIN, pythonpath=str(site)))
    off = _pytest(project, "-p", f"no:{PLUGIN}", pythonpath=str(site))
    assert "fixture 'lukhas_telemetry' not found" in off.stdout


def test_an_entry_point_named_otherwise_breaks_dash_p(tmp_path: Path, app_catalog: Path) -> None:
    """Why the entry point is named after the module: under another name, ``-p`` registers it a second time."""
    site = _fake_distribution(tmp_path, "lukhas_obs")
    project = _project(tmp_path, app_catalog)
    result = _pytest(project, "-p", PLUGIN, pythonpath=str(site))
    assert result.returncode != 0 and "already registered under a different name" in result.stdout + result.stderr


def test_the_installed_distribution_registers_the_plugin(tmp_path: Path, app_catalog: Path) -> None:
    """Once pyproject.toml has the entry point and the package is reinstalled, plain ``pytest`` finds the fixture."""
    found = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.value == PLUGIN]
    dist_names = {getattr(ep.dist, "name", "") for ep in found}
    if not any(name.replace("_", "-").lower() == "lukhas-obs" for name in dist_names):
        message = (
            f'the lukhas-obs distribution has no pytest11 entry point "{PLUGIN}" = "{PLUGIN}" '
            "(add it to pyproject.toml and reinstall)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert [ep.name for ep in found if getattr(ep.dist, "name", "").replace("_", "-").lower() == "lukhas-obs"] == [
        PLUGIN
    ]
    _check_project_outcome(_pytest(_project(tmp_path, app_catalog)))
