"""The lukhas-obs pytest plugin: the ``lukhas_telemetry`` fixture and the ``lukhas_obs`` marker.

Registered under the ``pytest11`` entry point of the lukhas-obs distribution (so installing lukhas-obs is enough),
or loaded explicitly with ``pytest -p lukhas_obs.testing.plugin``. Importing the plugin imports nothing of lukhas-obs
itself: the SDK is loaded by the first test that uses the fixture (coverage tools start before that).

Options of one test go on the marker::

    @pytest.mark.lukhas_obs(deterministic=True, service="checkout", catalogs=["tests/data/checkout.yaml"])
    def test_checkout(lukhas_telemetry): ...

They are the keyword arguments of :func:`lukhas_obs.testing.capture_telemetry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover - typing only
    from lukhas_obs.testing.capture import CapturedTelemetry

MARKER = "lukhas_obs"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (``--strict-markers`` projects need it declared)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the lukhas_telemetry fixture (catalogs=, deterministic=, isolate_env=, "
        "and lukhas_obs.configure options such as service= or cardinality_limit=)",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The marker's keyword arguments, closest marker first (a function's marker overrides its class's)."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only, got {marker.args!r}")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def lukhas_telemetry(request: pytest.FixtureRequest) -> Iterator[CapturedTelemetry]:
    """lukhas-obs configured in memory for this test: captured spans and metrics, catalog-aware assertions.

    Everything is restored afterwards (see :func:`lukhas_obs.testing.capture_telemetry`).
    """
    from lukhas_obs.testing.capture import capture_telemetry

    with capture_telemetry(**_options(request)) as captured:
        yield captured
