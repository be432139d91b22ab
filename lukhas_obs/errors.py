"""Exceptions lukhas-obs raises.

Only configuration and catalog problems raise, and only at configure/load time: the recording path never raises into
application code (see :mod:`lukhas_obs.drops`).
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigurationError(ValueError):
    """A setting has a value lukhas-obs cannot use.

    The message names the field, where the value came from (argument or environment variable), the value, and what is
    accepted, e.g. ``otlp_protocol='foo' (from OTEL_EXPORTER_OTLP_PROTOCOL) is not accepted; expected one of: grpc,
    http/protobuf, http``.
    """

    def __init__(self, field: str, value: object, expected: str, source: str | None = None) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        self.source = source
        origin = f" (from {source})" if source and source != field else ""
        super().__init__(f"lukhas_obs: {field}={value!r}{origin} is not accepted; expected {expected}")


class AlreadyConfiguredError(RuntimeError):
    """``configure()`` was called again with settings that differ from the active ones.

    lukhas-obs never half-applies a second configuration: call :func:`lukhas_obs.shutdown` first, then configure
    again (everything is rebuilt), or pass ``reconfigure=True`` to do both in one call.
    """

    def __init__(self, differing: Iterable[str]) -> None:
        self.differing = tuple(differing)
        super().__init__(
            "lukhas_obs is already configured with different settings (differs in: "
            + ", ".join(self.differing)
            + "); call lukhas_obs.shutdown() first or pass reconfigure=True"
        )


class CatalogError(ValueError):
    """A catalog (metric and span specification) is invalid; raised when it is loaded."""

    def __init__(self, catalog: str, problems: Iterable[str]) -> None:
        self.catalog = catalog
        self.problems = tuple(problems)
        super().__init__(f"catalog {catalog!r} is invalid:\n  - " + "\n  - ".join(self.problems))
