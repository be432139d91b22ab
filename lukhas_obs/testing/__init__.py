"""Test support for code instrumented with lukhas-obs: captured metrics and spans, catalog-aware assertions.

With pytest, use the ``lukhas_telemetry`` fixture of the plugin :mod:`lukhas_obs.testing.plugin` (registered under
the ``pytest11`` entry point, or loaded with ``-p lukhas_obs.testing.plugin``)::

    def test_login_failure_is_counted(lukhas_telemetry):
        authenticate("ada", "wrong")
        lukhas_telemetry.assert_counter("lukhas_auth_failures_total", 1, tier="T2", reason="invalid_credentials")
        lukhas_telemetry.assert_no_drops()

Without pytest (unittest, scripts), :func:`capture_telemetry` is the same thing as a context manager. See
docs/TESTING.md.
"""

from __future__ import annotations

from lukhas_obs.testing.capture import (
    CapturedTelemetry,
    FakeClock,
    HistogramSeries,
    MetricView,
    SequentialIdGenerator,
    Series,
    capture_telemetry,
)

__all__ = [
    "CapturedTelemetry",
    "FakeClock",
    "HistogramSeries",
    "MetricView",
    "SequentialIdGenerator",
    "Series",
    "capture_telemetry",
]
