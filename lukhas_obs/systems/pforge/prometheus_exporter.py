"""pForge's Prometheus exporter (seed 002, ``metrics/prometheus_exporter.py``): a FastAPI ``APIRouter`` with
``GET /metrics``.

The router has no auth of its own, like the seed's: the application includes it behind its auth, so only
authenticated scrapers (the Prometheus server) read it::

    from fastapi import Depends, FastAPI
    from lukhas_obs.systems.pforge.prometheus_exporter import router as metrics_router

    lukhas_obs.configure(serve_metrics=False)          # /metrics is a route of the app, not a second port
    app = FastAPI()
    app.include_router(metrics_router, dependencies=[Depends(require_auth)])

Include it (``include_router``), never ``app.mount(...)`` it: FastAPI dependencies do not cover mounts, and a mount
answers ``307 → /metrics/`` (docs/SERVING.md). The body is always the Prometheus text format 0.0.4 with the seed's
content type (``text/plain; version=0.0.4``), rendered by :func:`lukhas_obs.render_exposition` (the seed's
``generate_latest()``). Needs FastAPI (the ``pforge`` extra).
"""

from __future__ import annotations

try:
    from fastapi import APIRouter, Response
except ImportError:  # pragma: no cover - depends on the installation
    raise ImportError(
        "lukhas_obs.systems.pforge.prometheus_exporter needs FastAPI: pip install 'lukhas-obs[pforge]'"
    ) from None

import lukhas_obs
from lukhas_obs.exporters.prometheus import TEXT_CONTENT_TYPE

__all__ = ["CONTENT_TYPE", "metrics", "router"]

#: ``text/plain; version=0.0.4; charset=utf-8``: the seed's content type (with the charset prometheus_client adds).
CONTENT_TYPE = TEXT_CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Every registered metric in the Prometheus text format (never raises; a valid empty body when unconfigured)."""
    body, _ = lukhas_obs.render_exposition(None)
    return Response(content=body, media_type=CONTENT_TYPE)
