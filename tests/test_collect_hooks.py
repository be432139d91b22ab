"""before_collect hooks: run at every scrape and OTLP export, before the values are read; a failing hook is isolated."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict

import lukhas_obs
from lukhas_obs import collect_hooks
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape


@pytest.fixture
def registered():
    added: list = []

    def register(hook):
        added.append(lukhas_obs.before_collect(hook))
        return hook

    yield register
    for hook in added:
        collect_hooks.remove(hook)


@pytest.mark.parametrize("aggregation", ["own", "sdk"])
def test_a_hook_refreshes_values_in_the_same_scrape(registered, aggregation):
    state = {"n": 0}
    gauge = lukhas_obs.gauge("lukhas_dream_backpressure")

    @registered
    def refresh() -> None:
        state["n"] += 1
        gauge.set(state["n"] * 10)

    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    first = scrape(telemetry.metrics_url).samples("lukhas_dream_backpressure")[0].value
    second = scrape(telemetry.metrics_url).samples("lukhas_dream_backpressure")[0].value
    assert (first, second) == (state["n"] * 10 - 10, state["n"] * 10) and state["n"] >= 2
    assert "collect_hooks" not in scrape(telemetry.metrics_url).body  # the mechanism never shows


def test_a_raising_hook_is_isolated_counted_and_the_others_run(registered):
    ran: list[str] = []

    @registered
    def broken() -> None:
        raise RuntimeError("redis down")

    @registered
    def fine() -> None:
        ran.append("fine")

    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    result = scrape(telemetry.metrics_url)
    assert result.status == 200 and ran
    dropped = scrape(telemetry.metrics_url).samples("lukhas_obs_dropped_measurements_total")
    assert any(s.labels["metric"] == "before_collect" and s.labels["reason"] == "callback_error" for s in dropped)


def test_hooks_run_before_an_otlp_export(registered):
    counter = lukhas_obs.counter("lukhas_memory_docs_total")
    registered(lambda: counter.add(5))
    with OtlpReceiver("http") as receiver:
        telemetry = lukhas_obs.configure(
            prometheus_port=0, metrics_exporter="otlp", traces_exporter="none", otlp_endpoint=receiver.endpoint,
            otlp_protocol="http", metric_export_interval=3600,
        )  # fmt: skip
        assert telemetry.force_flush(10)
        telemetry.shutdown(timeout=5)
        names = {
            m["name"]: m
            for r in receiver.metric_requests
            for rm in MessageToDict(r)["resourceMetrics"]
            for sm in rm["scopeMetrics"]
            for m in sm["metrics"]
        }
    points = names["lukhas.memory.docs"]["sum"]["dataPoints"]
    assert float(points[0]["asDouble"] if "asDouble" in points[0] else points[0]["asInt"]) >= 5
    assert not any(name.startswith("lukhas_obs.collect_hooks") for name in names)


def test_registering_is_idempotent_and_refuses_non_callables(registered):
    def hook() -> None: ...

    registered(hook)
    registered(hook)
    assert collect_hooks.hooks().count(hook) == 1
    with pytest.raises(TypeError):
        lukhas_obs.before_collect(42)  # type: ignore[arg-type]


def test_a_catalog_registered_late_and_first_used_inside_a_collection_never_hangs_the_scrape(registered, tmp_path):
    """An observable instrument made inside a collection would wait for the SDK lock that collection holds."""
    import threading

    from lukhas_obs.catalog import load_catalog, register

    path = tmp_path / "late.yaml"
    path.write_text(
        "catalog: late_hooks\nmetrics:\n"
        "  - {name: late_hooks_depth, kind: observable_gauge, description: Depth read at scrape time.}\n"
        "  - {name: late_hooks_ratio, kind: rate_of_change, source: late_hooks_level, windows: [30s], "
        "description: Rate.}\n"
        "  - {name: late_hooks_level, kind: gauge, description: Level.}\n"
    )
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    late = load_catalog(path)

    @registered
    def register_and_observe() -> None:  # registers and binds inside the collection
        if not any(c.name == "late_hooks" for c in lukhas_obs.catalogs()):
            register(late)
            lukhas_obs.observable_gauge("late_hooks_depth").observe(lambda: 7)
            lukhas_obs.gauge("late_hooks_level").set(1)

    result: list = []
    scraper = threading.Thread(target=lambda: result.append(scrape(telemetry.metrics_url, timeout=10)))
    scraper.start()
    scraper.join(15)
    assert result and result[0].status == 200  # the scrape answered instead of hanging
    for _ in range(50):
        if "late_hooks_depth 7.0" in scrape(telemetry.metrics_url).body:
            break
        threading.Event().wait(0.1)
    assert "late_hooks_depth 7.0" in scrape(telemetry.metrics_url).body


def test_a_catalog_registered_after_configure_is_bound_at_once(tmp_path):
    from lukhas_obs.catalog import load_catalog, register

    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    path = tmp_path / "after.yaml"
    path.write_text(
        "catalog: after_cfg\nmetrics:\n  - {name: after_cfg_depth, kind: observable_gauge, description: D.}\n"
    )
    register(load_catalog(path))
    handle = lukhas_obs.observable_gauge("after_cfg_depth")
    assert handle._target is not None  # bound by the registration, not by the first use
    handle.observe(lambda: 3)
    assert "after_cfg_depth 3.0" in scrape(telemetry.metrics_url).body
