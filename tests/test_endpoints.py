"""Per-endpoint subsets: one process, several metrics paths, each serving chosen catalogs; the metrics path and the
``/health`` body configurable (issue 13 item 3, issue 12 item 4).

Real HTTP on 127.0.0.1 through ``lukhas_obs.runtime.configure(prometheus_port=0, ...)`` (and raw sockets for what
urllib would not send), real frameworks for the framework helpers. The catalogs here are test catalogs shaped like
seed 001's longevity metrics (``/longevity/metrics``) and seed 004's SELF gauges (``/metrics/exp``, where the seed's
``curl .../metrics/exp | grep self_`` must find them), with names of their own so they can share a process with the
examples' catalogs.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import catalog, runtime
from lukhas_obs.errors import ConfigurationError
from lukhas_obs.exporters import prometheus
from lukhas_obs.exporters.prometheus import (
    TEXT_CONTENT_TYPE,
    UNCONFIGURED_TEXT,
    MetricsServer,
    endpoint_app,
    families_of,
    render_exposition,
    resolve_catalogs,
)
from tests.test_metrics_server_attack import _raw

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

LONGEVITY = {
    "catalog": "endpoints_longevity",
    "title": "Longevity doses (seed 001 shape)",
    "common_attributes": [],
    "attributes": {"compound": {"description": "The compound dosed."}},
    "metrics": [
        {
            "name": "ept_longevity_doses_total",
            "kind": "counter",
            "unit": "{dose}",
            "description": "Doses given, by compound",
            "attributes": ["compound"],
        },
        {
            "name": "ept_longevity_dose_amount",
            "kind": "histogram",
            "unit": "1",
            "description": "Dose amounts",
            "buckets": [0.1, 1.0, 10.0],
        },
    ],
}
EXP = {
    "catalog": "endpoints_exp",
    "title": "SELF gauges (seed 004 shape)",
    "common_attributes": [],
    "attributes": {"token_id": {"description": "A token's identifier, not a credential.", "secret": False}},
    "metrics": [
        {
            "name": f"ept_self_{name}",
            "kind": "gauge",
            "unit": "1",
            "description": f"SELF {name} score",
            "attributes": ["token_id"],
        }
        for name in ("coherence", "continuity", "presence", "stress")
    ],
}
ENDPOINTS = {
    "/longevity/metrics": ["endpoints_longevity"],
    "/metrics/exp": ["endpoints_exp"],
    "/metrics/exp/self": ["endpoints_exp", "lukhas_obs_self"],
}
TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _catalogs() -> None:
    """The test catalogs, registered (an equal catalog registers again as a no-op)."""
    catalog.register(catalog.load_catalog(LONGEVITY))
    catalog.register(catalog.load_catalog(EXP))


@pytest.fixture
def served():
    """Everything configured with the three endpoints on a free loopback port; shut down (bounded) afterwards."""
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    assert telemetry.metrics_server is not None
    _record()
    yield telemetry
    telemetry.shutdown(timeout=5)


def _record() -> None:
    lukhas_obs.metric("ept_longevity_doses_total").add(2, compound="nmn")
    lukhas_obs.metric("ept_longevity_dose_amount").record(0.5)
    lukhas_obs.metric("ept_self_coherence").set(0.91, token_id="tok-1")
    lukhas_obs.metric("ept_self_stress").set(0.12, token_id="tok-1")
    lukhas_obs.metric("lukhas_memory_docs_total").add(1)
    lukhas_obs.metric("lukhas_memory_docs_total").add(-1)  # refused: counted in the self-telemetry


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def _families(body: bytes) -> set[str]:
    return {f.name for f in text_string_to_metric_families(body.decode())}


def _url(telemetry: Any, path: str) -> str:
    return telemetry.metrics_server.url_for(path)


LONGEVITY_FAMILIES = {"ept_longevity_doses", "ept_longevity_dose_amount"}
EXP_FAMILIES = {f"ept_self_{n}" for n in ("coherence", "stress")}


# ------------------------------------------------------------------------------------------------ the subsets


@pytest.mark.e2e
def test_each_path_serves_its_catalogs_families_and_target_info(served):
    status, headers, body = _get(served.metrics_url)
    assert (status, headers["content-type"]) == (200, TEXT_CONTENT_TYPE)
    everything = _families(body)
    wanted = {"target_info", "lukhas_memory_docs", "lukhas_obs_dropped_measurements"}
    assert wanted | LONGEVITY_FAMILIES | EXP_FAMILIES <= everything

    status, _, body = _get(_url(served, "/longevity/metrics"))
    assert status == 200 and _families(body) == LONGEVITY_FAMILIES | {"target_info"}
    assert b'ept_longevity_doses_total{compound="nmn"} 2.0\n' in body

    status, _, body = _get(_url(served, "/metrics/exp"))
    assert status == 200 and _families(body) == EXP_FAMILIES | {"target_info"}
    self_lines = [line for line in body.decode().splitlines() if "self_" in line and not line.startswith("#")]
    assert self_lines == ['ept_self_coherence{token_id="tok-1"} 0.91', 'ept_self_stress{token_id="tok-1"} 0.12']


@pytest.mark.e2e
def test_self_telemetry_only_where_asked(served):
    _, _, exp = _get(_url(served, "/metrics/exp"))
    _, _, exp_self = _get(_url(served, "/metrics/exp/self"))
    assert b"lukhas_obs_" not in exp
    added = _families(exp_self) - _families(exp)
    assert "lukhas_obs_dropped_measurements" in added
    assert all(name.startswith("lukhas_obs_") for name in added), added
    _, _, main = _get(served.metrics_url)
    assert b"lukhas_obs_dropped_measurements_total{" in main  # the default path serves everything, itself too


@pytest.mark.e2e
def test_a_path_that_prefixes_another_never_shadows_it_and_nothing_redirects(served):
    _, _, main = _get(served.metrics_url)
    _, _, exp = _get(_url(served, "/metrics/exp"))
    assert exp != main and b"lukhas_memory_docs" in main and b"lukhas_memory_docs" not in exp
    for path in (
        "/metrics/", "/metrics/exp/", "/metrics/ex", "/metrics/expx", "/metrics/exp/self/", "/metrics/exp/sel",
        "/longevity", "/longevity/", "/longevity/metrics/", "/METRICS/EXP", "//metrics/exp", "/metrics//exp",
        "/metrics/exp/.", "/metrics/exp/..", "/metrics/../metrics/exp", "/metrics/./exp", "/", "/health/",
    ):  # fmt: skip
        status, headers, body = _get(_url(served, path))
        assert status == 404, path
        assert "location" not in headers and b"ept_" not in body, path


@pytest.mark.e2e
def test_hostile_request_targets_get_404_or_400_never_a_subset_they_did_not_name(served):
    port = served.metrics_server.port
    cases = {
        b"GET /metrics/exp%00 HTTP/1.1\r\n\r\n": 404,
        b"GET /metrics/exp%2F..%2F HTTP/1.1\r\n\r\n": 404,
        b"GET /metrics/exp\xff HTTP/1.1\r\n\r\n": 404,
        b"GET /metrics/exp%ED%A0%80 HTTP/1.1\r\n\r\n": 404,
        b"GET /metrics/exp#frag HTTP/1.1\r\n\r\n": 404,
        b"GET metrics/exp HTTP/1.1\r\n\r\n": 404,
        b"GET /metrics/exp\x00 HTTP/1.1\r\n\r\n": 400,
        b"GET /metrics/exp?name[]=%ED%A0%80 HTTP/1.1\r\n\r\n": 200,
        b"GET http://evil.example/metrics/exp HTTP/1.1\r\n\r\n": 200,  # absolute-form: its path
        b"GET /metrics%2Fexp HTTP/1.1\r\n\r\n": 200,  # percent-decoded as every WSGI server does: the same path
    }
    for request, expected in cases.items():
        status, _, body = _raw(port, request)
        assert status == expected, (request, status, body[:200])
        if status == 200:
            assert b"lukhas_memory_docs" not in body and b"ept_longevity" not in body, request


@pytest.mark.e2e
def test_head_post_options_on_every_metrics_path_and_health(served):
    for path in (served.metrics_url, _url(served, "/metrics/exp"), _url(served, "/longevity/metrics")):
        status, headers, body = _get(path, method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0, path
        assert _get(path, method="POST")[0] == 405, path
        status, headers, _ = _get(path, method="OPTIONS")
        assert status == 200 and headers["allow"] == "GET, HEAD, OPTIONS", path
    health = _url(served, "/health")
    status, headers, body = _get(health, method="HEAD")
    assert (status, body) == (200, b"") and headers["content-type"] == "application/json"
    assert _get(health, method="POST")[0] == 405
    assert _get(health, method="DELETE")[0] == 405


@pytest.mark.e2e
def test_name_filter_works_within_every_endpoint(served):
    exp = _url(served, "/metrics/exp")
    _, _, body = _get(exp + "?name[]=ept_self_stress")
    assert _families(body) == {"ept_self_stress"}
    _, _, body = _get(exp + "?name[]=ept_longevity_doses_total&name[]=lukhas_memory_docs_total")
    assert body == b""  # other catalogs' names select nothing here (prometheus_client: no matching sample)
    _, _, body = _get(_url(served, "/longevity/metrics") + "?name[]=ept_longevity_dose_amount_count&name[]=target_info")
    assert [line for line in body.decode().splitlines() if not line.startswith("#")][1:] == [
        "ept_longevity_dose_amount_count 1.0"
    ]
    _, _, main = _get(served.metrics_url + "?name[]=ept_self_stress")
    assert _families(main) == {"ept_self_stress"}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("name[]=" + "%ED%A0%80", 200, id="lone-surrogate"),
        pytest.param("name[]=" + "x" * 5000, 200, id="long-name"),
        pytest.param("name[]=%00&name[]=%0A&name[]=%22", 200, id="control-and-quote"),
        pytest.param("&".join(["name[]=a"] * 300), 400, id="300-fields"),
        pytest.param("name[]=" + "a" * 20000, 414, id="20k-query"),
        pytest.param("name[]", 200, id="no-value"),
        pytest.param("name%5B%5D=ept_self_stress", 200, id="encoded-brackets"),
    ],
)
def test_hostile_name_filters_on_a_subset_endpoint(served, query, status):
    got, _, body = _get(_url(served, "/metrics/exp") + "?" + query)
    assert got == status
    if status == 200:
        assert b"lukhas_memory_docs" not in body and b"ept_longevity" not in body


@pytest.mark.e2e
def test_auth_covers_every_metrics_path_but_not_health():
    telemetry = runtime.configure(
        prometheus_port=0, traces_exporter="none", metrics_endpoints=ENDPOINTS, metrics_bearer_token=TOKEN
    )
    try:
        _record()
        for path in ("/metrics", "/metrics/exp", "/longevity/metrics", "/metrics/exp/self"):
            status, _, body = _get(_url(telemetry, path))
            assert status == 401 and b"ept_" not in body, path
            assert _get(_url(telemetry, path), {"Authorization": f"Bearer {TOKEN}"})[0] == 200, path
        assert _get(_url(telemetry, "/health"))[0] == 200
    finally:
        telemetry.shutdown(timeout=5)


# ----------------------------------------------------------------------------------- metrics path, /health body


@pytest.mark.e2e
def test_metrics_path_moves_everything_and_the_url_follows():
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none", metrics_path="/prom/all")
    try:
        _record()
        assert telemetry.metrics_url == f"http://127.0.0.1:{telemetry.metrics_server.port}/prom/all"
        status, _, body = _get(telemetry.metrics_url)
        assert status == 200 and b"lukhas_memory_docs_total" in body
        assert _get(_url(telemetry, "/metrics"))[0] == 404
    finally:
        telemetry.shutdown(timeout=5)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("given", "content_type", "body"),
    [
        (None, "application/json", b'{"status": "ok"}'),
        ({"status": "healthy", "service": "Luna Consciousness MCP"}, "application/json",
         b'{"status": "healthy", "service": "Luna Consciousness MCP"}'),
        ('{"status":"healthy"}', "application/json", b'{"status":"healthy"}'),
        ("ok\n", "text/plain; charset=utf-8", b"ok\n"),
        ({"état": "prêt", "n": 3, "up": True, "x": None}, "application/json",
         b'{"\\u00e9tat": "pr\\u00eat", "n": 3, "up": true, "x": null}'),
    ],
)  # fmt: skip
def test_health_body_is_served_as_configured(given, content_type, body):
    options = {} if given is None else {"health_body": given}
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none", **options)
    try:
        status, headers, got = _get(_url(telemetry, "/health"))
        assert (status, headers["content-type"], got) == (200, content_type, body)
    finally:
        telemetry.shutdown(timeout=5)


def test_health_body_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUKHAS_HEALTH_BODY", '{"status": "healthy"}')
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none")
    try:
        assert _get(_url(telemetry, "/health"))[2] == b'{"status": "healthy"}'
    finally:
        telemetry.shutdown(timeout=5)


class _Deep(dict):
    pass


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("health_body", "x" * 4097, "4096 UTF-8 bytes"),
        ("health_body", "é" * 2049, "4096 UTF-8 bytes"),  # 2049 characters, 4098 bytes
        ("health_body", {"blob": "x" * 5000}, "JSON object"),
        ("health_body", {"n": 10**40}, "JSON object"),
        ("health_body", {"n": float("inf")}, "JSON object"),
        ("health_body", {1: "int key"}, "JSON object"),
        ("health_body", {"s": object()}, "JSON object"),
        ("health_body", '{"unclosed": ', "JSON object"),
        ("health_body", "{" * 3000, "JSON object"),
        ("health_body", "bell\x07", "JSON object"),
        ("health_body", "   ", "JSON object"),
        ("health_body", b'{"status": "ok"}', "JSON object"),
        ("metrics_endpoints", {"/exp": ["no_such_catalog"]}, "endpoints_exp"),
        ("metrics_endpoints", {"/exp": ["../../etc/passwd"]}, "registered catalogs"),
        ("metrics_endpoints", {"/exp": []}, "1 to 32"),
        ("metrics_endpoints", {"/exp": "endpoints_exp", "/metrics": ["endpoints_exp"]}, "other than metrics_path"),
        ("metrics_endpoints", {"/health": ["endpoints_exp"]}, "other than /health"),
        ("metrics_endpoints", {"/exp?x=1": ["endpoints_exp"]}, "no query"),
        ("metrics_endpoints", {f"/p{i}": ["endpoints_exp"] for i in range(33)}, "at most 32"),
        ("metrics_endpoints", ["/exp"], "mapping"),
        ("metrics_path", "/metrics/", None),  # accepted: a path of its own (exact match)
        ("metrics_path", "/a/../metrics", "'..'"),
        ("metrics_path", "/" + "a" * 256, "at most 256"),
        ("metrics_path", "/health", "other than /health"),
        ("metrics_path", "metrics", "starting with '/'"),
    ],
)
def test_bad_serving_settings_fail_at_configure_naming_field_and_accepted(field, value, fragment):
    if fragment is None:
        telemetry = runtime.configure(prometheus_port=0, traces_exporter="none", **{field: value})
        telemetry.shutdown(timeout=5)
        return
    with pytest.raises(ConfigurationError) as err:
        runtime.configure(prometheus_port=0, traces_exporter="none", **{field: value})
    message = str(err.value)
    assert field in message and fragment in message, message
    assert len(message) < 2000
    assert lukhas_obs.active() is None  # nothing built, no server started


def test_unknown_catalog_message_lists_the_accepted_names():
    with pytest.raises(ConfigurationError) as err:
        runtime.configure(prometheus_port=0, traces_exporter="none", metrics_endpoints={"/exp": ["endpoints_exq"]})
    message = str(err.value)
    assert "metrics_endpoints['/exp']" in message and "'endpoints_exq'" in message
    for name in ("endpoints_exp", "endpoints_longevity", "lukhas_obs_self", "lukhas_core"):
        assert name in message


def test_systems_expand_to_their_catalogs_and_the_variable_form():
    settings = lukhas_obs.resolve_settings(
        environ={"LUKHAS_METRICS_ENDPOINTS": "/core=lukhas_core+lukhas_obs_self, /exp=endpoints_exp"}
    )
    assert settings.metrics_endpoints == (("/core", ("lukhas_core", "lukhas_obs_self")), ("/exp", ("endpoints_exp",)))
    assert resolve_catalogs(["lukhas_core", "lukhas_core"]) == ("lukhas_core",)
    assert "lukhas_memory_docs" in families_of(("lukhas_core",))


# -------------------------------------------------------------------------------------------- framework helpers


def test_render_exposition_by_catalogs_and_by_endpoint():
    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    body, content_type = render_exposition(catalogs=["endpoints_exp"])
    assert content_type == TEXT_CONTENT_TYPE and _families(body) == EXP_FAMILIES | {"target_info"}
    assert render_exposition(endpoint="/metrics/exp")[0] == body
    assert _families(render_exposition(endpoint="/longevity/metrics")[0]) == LONGEVITY_FAMILIES | {"target_info"}
    assert b"lukhas_memory_docs_total" in render_exposition(endpoint="/metrics")[0]
    body, _ = render_exposition(catalogs="endpoints_exp", names=["ept_self_coherence"])
    assert _families(body) == {"ept_self_coherence"}
    openmetrics, content_type = render_exposition("application/openmetrics-text", catalogs=["endpoints_exp"])
    assert content_type.startswith("application/openmetrics-text") and openmetrics.endswith(b"# EOF\n")


def test_render_exposition_with_a_bad_selection_serves_nothing_and_warns_once(caplog):
    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    prometheus._warned.clear()
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        for selection in (
            {"catalogs": ["no_such_catalog"]},
            {"catalogs": ["x%2FBasic secret-value-0123456789"]},
            {"catalogs": 42},
            {"catalogs": []},
            {"endpoint": "/not/configured"},
            {"endpoint": 7},
        ):
            for _ in range(3):
                assert render_exposition(**selection)[0] == UNCONFIGURED_TEXT, selection
    warnings = [r for r in caplog.records if "serves nothing" in r.getMessage()]
    assert len(warnings) == 2  # once for catalogs=, once for endpoint=
    assert "secret-value" not in caplog.text
    assert "names of registered catalogs" in caplog.text


def test_apps_refuse_unknown_catalogs_when_built():
    for factory in (prometheus.metrics_asgi_app, prometheus.metrics_wsgi_app):
        with pytest.raises(ConfigurationError) as err:
            factory(catalogs=["no_such_catalog"])
        assert "catalogs" in str(err.value) and "endpoints_exp" in str(err.value)
        with pytest.raises(ConfigurationError):
            factory(catalogs=["endpoints_exp"], endpoint="/metrics/exp")


def test_starlette_routes_for_nested_paths_serve_their_subsets_without_redirect():
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    app = Starlette(
        routes=[
            Route("/metrics", prometheus.metrics_asgi_app()),
            Route("/metrics/exp", prometheus.metrics_asgi_app(catalogs=["endpoints_exp"])),
            Route("/longevity/metrics", prometheus.metrics_asgi_app(endpoint="/longevity/metrics")),
            Route("/unconfigured", prometheus.metrics_asgi_app(endpoint="/nowhere")),
        ]
    )
    client = TestClient(app, follow_redirects=False)
    main = client.get("/metrics")
    exp = client.get("/metrics/exp")
    longevity = client.get("/longevity/metrics")
    assert (main.status_code, exp.status_code, longevity.status_code) == (200, 200, 200)
    assert b"lukhas_memory_docs_total" in main.content and b"ept_self_coherence" in main.content
    assert _families(exp.content) == EXP_FAMILIES | {"target_info"}
    assert _families(longevity.content) == LONGEVITY_FAMILIES | {"target_info"}
    assert _families(client.get("/metrics/exp?name[]=ept_self_stress").content) == {"ept_self_stress"}
    head = client.head("/metrics/exp")
    assert head.status_code == 200 and head.content == b""
    assert client.post("/metrics/exp").status_code == 405
    assert client.get("/unconfigured").status_code == 404


def test_wsgi_app_by_endpoint_and_by_catalogs():
    from werkzeug.test import Client

    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    by_catalog = Client(prometheus.metrics_wsgi_app(catalogs=["endpoints_longevity"]))
    by_endpoint = Client(prometheus.metrics_wsgi_app(endpoint="/longevity/metrics"))
    first, second = by_catalog.get("/"), by_endpoint.get("/")
    assert first.status_code == second.status_code == 200
    assert _families(first.get_data()) == _families(second.get_data()) == LONGEVITY_FAMILIES | {"target_info"}
    assert Client(prometheus.metrics_wsgi_app(endpoint="/nowhere")).get("/").status_code == 404


def test_asgi_endpoint_app_answers_404_until_a_configuration_names_the_endpoint():
    app = prometheus.metrics_asgi_app(endpoint="/metrics/exp")
    assert _asgi_status(app) == 404  # no configuration names the endpoint yet
    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    assert _asgi_status(app) == 200


def _asgi_status(app: Any) -> int:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "GET", "query_string": b"", "headers": []}, receive, send))
    return sent[0]["status"]


def test_a_users_own_registry_is_subset_by_catalog_family_names():
    registry = CollectorRegistry()
    Counter("ept_longevity_doses", "doses", ["compound"], registry=registry).labels("nmn").inc(2)
    Gauge("ept_self_coherence", "coh", registry=registry).set(0.5)
    Gauge("unrelated_gauge", "other", registry=registry).set(1)
    body, _ = render_exposition(registry_source=lambda: registry, catalogs=["endpoints_longevity"])
    assert _families(body) == {"ept_longevity_doses", "ept_longevity_doses_created"}  # prometheus_client's own
    body, _ = render_exposition(registry_source=lambda: registry, catalogs=["endpoints_exp"], names=["nothing"])
    assert body == b""


@pytest.mark.e2e
def test_endpoint_app_with_explicit_routes_on_the_built_in_server():
    runtime.configure(serve_metrics=False, traces_exporter="none")
    _record()
    app = endpoint_app(
        runtime.active_registry,
        metrics_path="/all",
        health_body=("text/plain; charset=utf-8", "up\n"),
        endpoints={"/exp": ["endpoints_exp"]},
    )
    server = MetricsServer.start("127.0.0.1", 0, app)
    assert server is not None
    try:
        assert server.url.endswith("/all")
        assert _families(_get(server.url_for("/exp"))[2]) == EXP_FAMILIES | {"target_info"}
        assert b"lukhas_memory_docs_total" in _get(server.url)[2]
        assert _get(server.url_for("/health"))[2] == b"up\n"
        assert _get(server.url_for("/metrics"))[0] == 404
    finally:
        assert server.stop(timeout=3)


def test_reconfiguring_changes_the_routes_of_a_new_server():
    first = runtime.configure(prometheus_port=0, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    exp_url = _url(first, "/metrics/exp")
    assert _get(exp_url)[0] == 200
    second = runtime.configure(prometheus_port=0, traces_exporter="none", reconfigure=True)
    try:
        assert _get(_url(second, "/metrics/exp"))[0] == 404
        assert first.metrics_server is not None and _url(first, "/metrics/exp") != _url(second, "/metrics/exp")
    finally:
        second.shutdown(timeout=5)


def test_hostile_selection_objects_never_raise_and_never_widen_the_subset():
    from tests.support.hostile import Hostile, RaisingStr

    runtime.configure(serve_metrics=False, traces_exporter="none", metrics_endpoints=ENDPOINTS)
    _record()
    exp_only = render_exposition(endpoint="/metrics/exp")[0]
    assert render_exposition(endpoint=RaisingStr("/metrics/exp"))[0] == exp_only
    assert render_exposition(catalogs=RaisingStr("endpoints_exp"))[0] == exp_only
    assert render_exposition(catalogs=[RaisingStr("endpoints_exp")])[0] == exp_only
    for hostile in (Hostile(), [Hostile()], RaisingStr("../x"), ["endpoints_exp", None], b"endpoints_exp"):
        assert render_exposition(catalogs=hostile)[0] == UNCONFIGURED_TEXT
    assert render_exposition(endpoint=Hostile())[0] == UNCONFIGURED_TEXT
    with pytest.raises(ConfigurationError):
        prometheus.metrics_asgi_app(catalogs=Hostile())
    with pytest.raises(ConfigurationError):
        prometheus.metrics_wsgi_app(endpoint=Hostile())
    served = prometheus.metrics_wsgi_app(endpoint=RaisingStr("/metrics/exp"))
    from werkzeug.test import Client

    assert Client(served).get("/").get_data() == exp_only


def test_an_unknown_name_registers_no_system():
    """A typo must not register every known system's catalogs (Luna's start_at_zero series would then appear on
    every /metrics of the process): only a system named, or declaring the catalog named, is registered."""
    before = [c.name for c in catalog.catalogs()]
    for names in (["no_such_catalog"], ["endpoints_exq"], ["zzz"]):
        with pytest.raises(ConfigurationError):
            resolve_catalogs(names)
        with pytest.raises(ConfigurationError):
            lukhas_obs.resolve_settings(environ={}, metrics_endpoints={"/x": names})
    assert [c.name for c in catalog.catalogs()] == before
