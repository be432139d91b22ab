"""pForge's server (seed 002, ``server/app.py``): a FastAPI app with the metrics router behind its auth.

``/metrics`` is the router of :mod:`lukhas_obs.systems.pforge.prometheus_exporter`, included with the app's auth
dependency (a bearer token compared in constant time), so only the authenticated Prometheus server scrapes it; a
request without the token gets ``401``. ``/state`` (the puzzle state, also behind auth) and ``/health`` (open) are
the app's own routes.

Run it (FastAPI and uvicorn: the ``pforge`` extra; this module imports FastAPI)::

    PFORGE_SCRAPE_TOKEN=... python -m lukhas_obs_examples.pforge --port 8000

and give Prometheus the token (``authorization: {credentials_file: ...}`` in its scrape config).
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import lukhas_obs

TOKEN_ENV = "PFORGE_SCRAPE_TOKEN"
DEFAULT_PORT = 8000
_BEARER = HTTPBearer(auto_error=False)


def bearer_auth(token: str) -> Callable[..., None]:
    """A FastAPI dependency accepting only ``Authorization: Bearer <token>`` (compared in constant time)."""
    if not token:
        raise ValueError(f"an empty scrape token would let anyone in; set {TOKEN_ENV}")
    expected = token.encode()

    def require_auth(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if credentials is None or not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="unauthorized", headers={"WWW-Authenticate": "Bearer"})

    return require_auth


def create_app(token: str, orchestrator: Any = None) -> Any:
    """The FastAPI app: ``GET /metrics`` and ``GET /state`` behind the bearer ``token``, ``GET /health`` open."""
    from lukhas_obs.systems.pforge.prometheus_exporter import router as metrics_router

    auth = Depends(bearer_auth(token))
    app = FastAPI(title="pForge")
    app.include_router(metrics_router, dependencies=[auth])  # a route, not a mount: the dependency covers it

    api = APIRouter(dependencies=[auth])

    @api.get("/state")
    def state() -> dict[str, Any]:
        return asdict(orchestrator.state) if orchestrator is not None else {}

    app.include_router(api)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "healthy", "service": "pforge"}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lukhas_obs_examples.pforge``: configure lukhas-obs, tick the orchestrator, serve with uvicorn."""
    import uvicorn
    from lukhas_obs_examples.pforge.workload import PForgeWorkload

    parser = argparse.ArgumentParser(prog="python -m lukhas_obs_examples.pforge", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between orchestrator ticks (default 1)")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"set {TOKEN_ENV} to the token Prometheus sends (Authorization: Bearer ...)", file=sys.stderr)
        return 2
    lukhas_obs.configure(service="pforge", serve_metrics=False)
    workload = PForgeWorkload(seed=None)
    stop = threading.Event()

    def run() -> None:
        iteration = 0
        while not stop.wait(args.interval):
            workload.step(iteration)
            iteration += 1

    ticker = threading.Thread(target=run, name="pforge-orchestrator", daemon=True)
    ticker.start()
    try:
        uvicorn.run(create_app(token, workload.orchestrator), host=args.host, port=args.port, log_level="warning")
    finally:
        stop.set()
        ticker.join(5)
        lukhas_obs.shutdown()
    return 0
