"""Kinds for state-file exporters and coherence watchers: observable counters, rates of change, per-catalog switches.

Each on both sinks. Rates of change are checked against a direct least-squares computation on the samples fed
(through the source gauge's public handle, with an injected clock), including a single sample and a gap.
"""

from __future__ import annotations

import textwrap

import pytest

import lukhas_obs
from lukhas_obs.catalog import load_catalog, register
from lukhas_obs.errors import CatalogError
from lukhas_obs.instruments import RateOfChangeHandle
from tests.support.scrape import scrape

_SEQ = iter(range(10_000))


def _catalog(tmp_path, switch: str | None = None) -> str:
    n = next(_SEQ)
    p = f"kr{n}"
    text = textwrap.dedent(
        f"""
        catalog: kinds_{n}
        common_attributes: []
        attributes:
          loop: {{}}
          compound: {{}}
        metrics:
          - name: {p}_coherence_ratio
            kind: gauge
            description: Coherence.
          - name: {p}_coherence_derivative
            kind: rate_of_change
            source: {p}_coherence_ratio
            windows: [30s, 60s, 300s]
            description: dPhi/dt.
          - name: {p}_loop_coherence
            kind: gauge
            description: Per loop.
            attributes: [loop]
          - name: {p}_loop_derivative
            kind: rate_of_change
            source: {p}_loop_coherence
            windows: [10s]
            description: Per loop rate.
          - name: {p}_collapse_operations_total
            kind: observable_counter
            description: Collapses read from the state file.
          - name: {p}_doses_total
            kind: observable_counter
            description: Doses.
            attributes: [compound]
          - name: {p}_queue_depth
            kind: observable_updown_counter
            description: Depth.
        """
    )
    if switch:
        text = text.replace(f"catalog: kinds_{n}", f"catalog: kinds_{n}\nswitch: {switch}")
    path = tmp_path / f"k{n}.yaml"
    path.write_text(text)
    register(load_catalog(path))
    return p


@pytest.fixture(params=["own", "sdk"])
def aggregation(request):
    return request.param


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    return sum((t - mt) * (v - mv) for t, v in points) / sum((t - mt) ** 2 for t, _ in points)


def _values(telemetry, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in scrape(telemetry.metrics_url).samples(name)}


def test_rate_of_change_values_match_a_direct_least_squares_fit(tmp_path, monkeypatch, aggregation):
    clock = Clock()
    monkeypatch.setattr(RateOfChangeHandle, "clock", clock)
    p = _catalog(tmp_path)
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    phi = lukhas_obs.gauge(f"{p}_coherence_ratio")
    phi.set(0.75)
    assert _values(telemetry, f"{p}_coherence_derivative") == {}  # one sample: no rate (absent, not 0)
    samples = [(1000.0, 0.75)]
    for step, value in enumerate([0.76, 0.74, 0.78, 0.77, 0.79], start=1):
        clock.now = 1000.0 + 10 * step
        phi.set(value)
        samples.append((clock.now, value))
    rates = _values(telemetry, f"{p}_coherence_derivative")
    inside_30s = [(t, v) for t, v in samples if t > clock.now - 30]
    assert rates[(("window", "30s"),)] == pytest.approx(_slope(inside_30s), rel=1e-12)
    assert rates[(("window", "60s"),)] == pytest.approx(_slope(samples), rel=1e-12)
    assert rates[(("window", "300s"),)] == pytest.approx(_slope(samples), rel=1e-12)
    assert f"{p}_coherence_ratio 0.79" in scrape(telemetry.metrics_url).body
    clock.now += 100  # a gap longer than 60 s: only the 300 s window still holds samples
    phi.inc(0.01)  # inc/dec feed the rate too
    rates = _values(telemetry, f"{p}_coherence_derivative")
    assert set(rates) == {(("window", "300s"),)}
    assert rates[(("window", "300s"),)] == pytest.approx(_slope([*samples, (clock.now, 0.80)]), rel=1e-9)


def test_rates_keep_the_source_attributes(tmp_path, monkeypatch, aggregation):
    clock = Clock()
    monkeypatch.setattr(RateOfChangeHandle, "clock", clock)
    p = _catalog(tmp_path)
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    loop = lukhas_obs.gauge(f"{p}_loop_coherence")
    bound = loop.bind(loop="beta")
    for step in range(3):
        clock.now = 1000.0 + step
        loop.set(0.5 + step * 0.1, loop="alpha")
        bound.set(1.0 - step * 0.2)
    rates = _values(telemetry, f"{p}_loop_derivative")
    assert rates[(("loop", "alpha"), ("window", "10s"))] == pytest.approx(0.1)
    assert rates[(("loop", "beta"), ("window", "10s"))] == pytest.approx(-0.2)


def test_observable_counters_read_totals_and_pass_resets_through(tmp_path, aggregation):
    p = _catalog(tmp_path)
    state = {"collapses": 5, "doses": {"nmn": 3, "rapamycin": 1}, "depth": 4}
    lukhas_obs.observable_counter(f"{p}_collapse_operations_total").observe(lambda: state["collapses"])
    lukhas_obs.observable_counter(f"{p}_doses_total").observe(
        lambda: [(n, {"compound": c}) for c, n in state["doses"].items()]
    )
    lukhas_obs.observable_updown_counter(f"{p}_queue_depth").observe(lambda: state["depth"])
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    body = scrape(telemetry.metrics_url)
    assert body.samples(f"{p}_collapse_operations_total")[0].value == 5
    assert {s.labels["compound"]: s.value for s in body.samples(f"{p}_doses_total")} == {"nmn": 3, "rapamycin": 1}
    assert f"# TYPE {p}_collapse_operations_total counter" in body.body
    assert f"# TYPE {p}_queue_depth gauge" in body.body
    state["collapses"] = 2  # the state file was rewritten from scratch: a reset, published as is
    state["depth"] = -3
    body = scrape(telemetry.metrics_url)
    assert body.samples(f"{p}_collapse_operations_total")[0].value == 2
    assert body.samples(f"{p}_queue_depth")[0].value == -3
    state["collapses"] = -1  # a negative total is not a total: dropped and counted
    body = scrape(telemetry.metrics_url)
    assert body.samples(f"{p}_collapse_operations_total") == []
    dropped = body.samples("lukhas_obs_dropped_measurements_total")
    assert any(s.labels["metric"] == f"{p}_collapse_operations_total" for s in dropped)


def test_a_catalog_switch_turns_only_that_catalog_off(tmp_path, monkeypatch, aggregation):
    monkeypatch.setenv("KINDS_TEST_METRICS", "off")
    off = _catalog(tmp_path, switch="KINDS_TEST_METRICS")
    on = _catalog(tmp_path)
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    lukhas_obs.gauge(f"{off}_coherence_ratio").set(0.5)
    lukhas_obs.gauge(f"{on}_coherence_ratio").set(0.5)
    with lukhas_obs.span("still.traced"):
        pass
    body = scrape(telemetry.metrics_url).body
    assert f"{on}_coherence_ratio 0.5" in body and f"{off}_coherence" not in body
    assert "lukhas_obs_dropped" not in body or f'metric="{off}' not in body  # off is not an error
    lukhas_obs.shutdown()
    monkeypatch.setenv("KINDS_TEST_METRICS", "on")  # read at configure
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", aggregation=aggregation)
    lukhas_obs.gauge(f"{off}_coherence_ratio").set(0.25)
    assert f"{off}_coherence_ratio 0.25" in scrape(telemetry.metrics_url).body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("source: {p}_coherence_ratio", "source: {p}_loop_nope"), "is not a gauge of this catalog"),
        (("windows: [30s, 60s, 300s]", "windows: [30s, 30000ms]"), "windows"),
        (("windows: [30s, 60s, 300s]", "windows: [soon]"), "windows"),
        (("    kind: observable_counter\n    description: Collapses", "    kind: observable_counter\n"
          "    source: x\n    description: Collapses"), "only a rate_of_change takes source"),
    ],
)  # fmt: skip
def test_bad_rate_definitions_are_refused_at_load(tmp_path, change, message):
    n = next(_SEQ)
    p = f"kr{n}"
    path = tmp_path / "base.yaml"
    source = textwrap.dedent(
        f"""
        catalog: bad_{n}
        metrics:
          - name: {p}_coherence_ratio
            kind: gauge
            description: Coherence.
          - name: {p}_coherence_derivative
            kind: rate_of_change
            source: {p}_coherence_ratio
            windows: [30s, 60s, 300s]
            description: dPhi/dt.
          - name: {p}_collapse_operations_total
            kind: observable_counter
            description: Collapses.
        """
    )
    old, new = (part.format(p=p) for part in change)
    assert old in source
    path.write_text(source.replace(old, new))
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)
