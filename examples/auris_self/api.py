"""FastAPI routes of the SELF operator API (seed 004's ``api_routes_exp.py``) and its ``/metrics/exp``.

- ``GET /self/health`` — current SELF numbers and canary status (:func:`.service.self_health`);
- ``POST /self/canary`` — ``{"new_sampling": 0.25, "reason": "..."}``, validated, audited, answered with the seed's
  restart note (:func:`.service.canary_request`). With ``operator_token`` set, it needs ``Authorization: Bearer``;
- ``GET /metrics/exp`` — the four SELF metrics only (``curl …/metrics/exp | grep self_``), rendered by
  :func:`lukhas_obs.render_exposition` from an ordinary route: no mount, no redirect, the router's dependencies
  apply (docs/SERVING.md). TODO: the built-in server's per-endpoint subsets replace this route once they land.

``create_app(context)`` is the whole example service; ``create_router(context)`` is what an existing app includes.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from lukhas_obs_examples.auris_self.service import MAX_BODY_BYTES, AurisSelf, canary_request, self_health

import lukhas_obs
from lukhas_obs.systems.auris_self.metrics import SELF_METRICS

__all__ = ["create_app", "create_router"]


def _authorized(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


async def _body(request: Request) -> bytes | None:
    """The request body, or None once it exceeds :data:`MAX_BODY_BYTES` (never read further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_router(context: AurisSelf, operator_token: str | None = None) -> APIRouter:
    """The three routes on ``context`` (see the module docstring)."""
    router = APIRouter()

    @router.get("/self/health")
    def health() -> JSONResponse:
        return JSONResponse(self_health(context))

    @router.post("/self/canary")
    async def canary(request: Request) -> JSONResponse:
        if not _authorized(request, operator_token):
            return JSONResponse(
                {"success": False, "error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        body = await _body(request)
        if body is None:
            return JSONResponse({"success": False, "error": f"the body must be at most {MAX_BODY_BYTES} bytes"}, 413)
        status, document = canary_request(context, body)
        return JSONResponse(document, status_code=status)

    @router.get("/metrics/exp", include_in_schema=False)
    def metrics_exp(request: Request) -> Response:
        body, content_type = lukhas_obs.render_exposition(request.headers.get("accept"), names=SELF_METRICS)
        return Response(body, media_type=content_type)

    return router


def create_app(context: AurisSelf, operator_token: str | None = None) -> FastAPI:
    """The example SELF service: the operator routes and ``/metrics/exp``."""
    app = FastAPI(title="AURIS SELF operator API (example)")
    app.include_router(create_router(context, operator_token))
    return app
