"""The one runtime state of lukhas-obs, swapped whole by configure, shutdown and fork.

Everything that depends on the active configuration reads :data:`current`: the runtime's :class:`Telemetry`, what
metric handles record into (:class:`Recording`: the meter, the own aggregation, common labels, scrubber, limits) and
the TracerProvider the switching tracers delegate to. A configuration change builds a new :class:`State` and assigns
it in one statement (:func:`swap`), so no reader ever sees half of one configuration and half of another, and
readers detect a change by identity (``cached_state is not _state.current``) — one comparison on the hot path.

This module imports nothing of lukhas-obs at run time (no import cycles): the objects it holds are built by
:mod:`lukhas_obs.runtime` and :mod:`lukhas_obs.instruments`. What is *not* state: metric handles themselves
(created once per catalog metric and kept across configurations), the catalog registry and the drop-warning memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from opentelemetry.metrics import Meter
    from opentelemetry.sdk.trace import TracerProvider

    from lukhas_obs.aggregation import Aggregator
    from lukhas_obs.scrubbing import Scrubber

__all__ = ["DEFAULT_CARDINALITY_LIMIT", "INACTIVE", "Recording", "State", "current", "swap"]

#: Distinct attribute sets per metric when the configuration does not say otherwise.
DEFAULT_CARDINALITY_LIMIT = 1000


@dataclass(frozen=True, eq=False)
class Recording:
    """What metric handles bind to in one configuration.

    ``aggregator`` is the own aggregation published to every reader (None: handles record through the OTel SDK
    instruments of ``meter``, e.g. when a reader asks for DELTA temporality); observable kinds always use ``meter``.
    ``store`` is multiprocess mode's :class:`~lukhas_obs.multiprocess.ProcessStore` (None: off): when set, the
    aggregated kinds (and Info) record into this process's file instead of ``aggregator``.
    """

    meter: Meter | None = None
    aggregator: Aggregator | None = None
    common: Mapping[str, str] = field(default_factory=dict)
    scrubber: Scrubber | None = None
    cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT
    cardinality_limits: Mapping[str, int] = field(default_factory=dict)
    store: Any = None

    def limit_for(self, name: str) -> int:
        """The cardinality limit of the metric with Prometheus name ``name``."""
        return self.cardinality_limits.get(name, self.cardinality_limit)


@dataclass(frozen=True, eq=False)
class State:
    """One configuration's state: the runtime's Telemetry (opaque here), recording and tracing."""

    telemetry: Any = None
    recording: Recording = field(default_factory=Recording)
    tracer_provider: TracerProvider | None = None


#: No configuration: handles and span helpers are no-ops.
INACTIVE = State()

#: The active state (read it as ``_state.current``, never import the name: it is replaced on every swap).
current: State = INACTIVE

#: True until the first configure(): handles keep measurements for it to replay (``instruments.EARLY_LIMIT``).
collecting_early: bool = True


def swap(new: State) -> State:
    """Make ``new`` the active state in one assignment; returns the previous one."""
    global current
    old, current = current, new
    return old
