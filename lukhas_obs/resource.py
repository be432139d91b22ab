"""The OTel Resource shared by the MeterProvider and the TracerProvider.

Built from resolved settings only: ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` were already folded in by
:mod:`lukhas_obs.settings` under the documented precedence, so the SDK's own environment detector is not run again.
Process and host facts are added, except the command line, which can carry secrets passed as arguments.

``service.instance.id`` tells the processes of one service apart (workers of one service otherwise differ only by
``process.pid``, which Prometheus/Mimir OTLP ingestion does not turn into a label, so their series collide): a random
UUID4, drawn each time a resource is built — at ``configure()`` and again in every forked child, which builds its own
(see :func:`lukhas_obs.runtime._after_fork_in_child`). A ``service.instance.id`` the user sets explicitly
(``OTEL_RESOURCE_ATTRIBUTES`` or ``configure(resource_attributes=...)``) is kept verbatim, also in forked children:
lukhas-obs never rewrites a value it was given (so a per-worker id is then the user's to set, e.g. in gunicorn's
``post_fork`` with ``configure(resource_attributes={"service.instance.id": ...}, reconfigure=True)``).
"""

from __future__ import annotations

import platform
import socket
import uuid

from opentelemetry.sdk.resources import OsResourceDetector, ProcessResourceDetector, Resource
from opentelemetry.sdk.version import __version__ as otel_sdk_version

from lukhas_obs._version import __version__
from lukhas_obs.scrubbing import Scrubber
from lukhas_obs.settings import Settings

#: The resource attribute that tells the processes of one service apart.
SERVICE_INSTANCE_ID = "service.instance.id"

#: Process attributes never collected: they can contain passwords or tokens given on the command line.
_UNSAFE_PROCESS_KEYS = frozenset({"process.command", "process.command_line", "process.command_args"})


def build_resource(settings: Settings, scrubber: Scrubber | None = None) -> Resource:
    """Resource with service identity (including a per-process ``service.instance.id``, see the module docstring),
    ``lukhas.lane``, SDK/distro facts, process and host attributes.

    Detected and user-supplied attributes pass ``scrubber`` (``OTEL_RESOURCE_ATTRIBUTES`` can carry a key by mistake).
    """
    scrubber = scrubber or Scrubber()
    sdk = Resource(
        {
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": otel_sdk_version,
            "telemetry.distro.name": "lukhas-obs",
            "telemetry.distro.version": __version__,
        }
    )
    detected: dict[str, object] = {"host.name": socket.gethostname(), "host.arch": platform.machine()}
    for detector in (ProcessResourceDetector(), OsResourceDetector()):
        try:
            attrs = detector.detect().attributes
        except Exception:  # a detector failing must not stop configuration
            continue
        detected.update({k: v for k, v in attrs.items() if k not in _UNSAFE_PROCESS_KEYS})
    detected = {k: scrubber.scrub_value(k, v) for k, v in detected.items()}
    extra = {k: scrubber.scrub_value(k, v) for k, v in settings.resource_attributes}
    if not str(extra.get(SERVICE_INSTANCE_ID, "")).strip():
        extra[SERVICE_INSTANCE_ID] = str(uuid.uuid4())  # per process: built again in every forked child
    identity = {
        **extra,
        "service.name": settings.service,
        "service.version": settings.version,
        "service.namespace": settings.namespace,
        "deployment.environment.name": settings.environment,
        "lukhas.lane": settings.lane,
    }
    return sdk.merge(Resource(detected)).merge(Resource(identity))  # type: ignore[arg-type]
