"""Shared fixtures: an isolated environment and a clean lukhas-obs runtime for every test."""

from __future__ import annotations

import os
import shutil

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import lukhas_obs

_ENV_PREFIXES = ("LUKHAS_", "OTEL_")


from lukhas_obs import catalog as _catalog  # noqa: E402

#: Catalogs registered before any test module was imported (lukhas-obs' own, the core's).
_BASELINE = frozenset(c.name for c in _catalog.catalogs())
#: Catalogs each test module registered while it was imported (collection), by module node id.
_REGISTERED_AT_IMPORT: dict[str, list] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    before = {c.name for c in _catalog.catalogs()}
    yield
    if isinstance(collector, pytest.Module):
        new = [c for c in _catalog.catalogs() if c.name not in before]
        if new:
            _REGISTERED_AT_IMPORT[collector.nodeid] = new


def pytest_collection_finish(session):
    """Imports of every module registered their catalogs during collection: none stays for the others."""
    for cat in _catalog.catalogs():
        if cat.name not in _BASELINE:
            _catalog.unregister(cat.name)


@pytest.fixture(autouse=True, scope="module")
def _catalogs_of_this_module_only(request):
    """A test module sees lukhas-obs' own catalogs plus those it registers (at import or in its tests): another
    module's full-exposition checks (promtool, the seed's exact family list, ``lukhas-obs check``) never see them."""
    for cat in _REGISTERED_AT_IMPORT.get(request.node.nodeid, ()):
        if cat.name not in {c.name for c in _catalog.catalogs()}:
            _catalog.register(cat)  # the same catalog again: the handles its module holds record again
    yield
    lukhas_obs.shutdown(timeout=5)
    for cat in _catalog.catalogs():
        if cat.name not in _BASELINE:
            _catalog.unregister(cat.name)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch):
    """No LUKHAS_*/OTEL_* variable from the machine leaks into a test; the runtime is shut down afterwards."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    lukhas_obs.shutdown(timeout=5)
    yield
    lukhas_obs.shutdown(timeout=5)


@pytest.fixture
def configured(tmp_path):
    """A configuration with /metrics on a free loopback port and traces to a temp file."""
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "traces.jsonl")
    yield telemetry
    telemetry.shutdown(timeout=5)


@pytest.fixture
def exporter():
    """lukhas-obs configured with /metrics on a free port; finished spans collected in memory."""
    lukhas_obs.shutdown()
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    memory = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    lukhas_obs.shutdown()


def require_tool(name: str) -> str:
    """Path of a real tool the test needs. Skips only outside CI; under CI a missing tool fails the test."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI (scripts/test.sh installs it with apt-get)")
    pytest.skip(f"{name} is not installed (run scripts/test.sh, which installs it)")
    raise AssertionError("unreachable")
