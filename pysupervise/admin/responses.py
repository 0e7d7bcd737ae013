"""The admin app's own plain responses: request ids, the one not-found page, errors, and common headers."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from typing import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp ≥ 3.12 wants typed request keys; older ones (pyproject allows 3.9) take the plain string.
REQUEST_ID_KEY = (web.RequestKey("pysupervise_request_id", str) if hasattr(web, "RequestKey")
                  else "pysupervise_request_id")
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 416: "Range Not Satisfiable",
            500: "Internal Server Error", 503: "Service Unavailable"}

# Pages show log text from the apps: no script but ours, no framing, no third-party anything.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

logger = logging.getLogger("pysupervise.admin")


def request_id(request: web.Request) -> str:
    return request.get(REQUEST_ID_KEY) or ""


def wants_json(request: web.Request) -> bool:
    """JSON when the client asks for it and does not ask for HTML first (as the proxy's own pages decide)."""
    accept = request.headers.get("Accept", "")
    if "json" not in accept:
        return False
    html_at = accept.find("text/html")
    return html_at < 0 or accept.find("json") < html_at


def error_response(request: web.Request, status: int, detail: str) -> web.Response:
    """The same small page the proxy writes for its own errors, so an admin 404 looks like any other 404."""
    reason = _REASONS.get(status, "Error")
    rid = request_id(request)
    if wants_json(request):
        body = json.dumps({"status": status, "error": reason, "detail": detail, "request_id": rid})
        response = web.Response(status=status, text=body, content_type="application/json")
    else:
        body = (f"<!doctype html><html><head><meta charset=utf-8><title>{status} {reason}</title></head>"
                f"<body><h1>{status} {reason}</h1><p>{html.escape(detail)}</p>"
                f"<hr><small>pysupervise · request {html.escape(rid)}</small></body></html>\n")
        response = web.Response(status=status, text=body, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def not_found(request: web.Request) -> web.Response:
    """The one 404 of the admin app: for unknown pages and files, and for clients who may not see any page."""
    return error_response(request, 404, "no such page")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: echo a sane X-Request-Id (the proxy always sends one) and turn every failure into a page."""
    incoming = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID_KEY] = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # a redirect raised by aiohttp itself: its own response is the right one
        if exc.status == 404:
            return not_found(request)
        response = error_response(request, exc.status, exc.reason)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if request.transport is None or request.transport.is_closing():
            raise  # the client left; there is nobody to answer
        logger.exception("admin request %s failed", request.path)
        return error_response(request, 500, f"the admin page failed: {exc.__class__.__name__}")
    return response


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every admin response, streamed ones too, carries these."""
    response.headers["X-Request-Id"] = request_id(request) or uuid.uuid4().hex
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Error pages stay as plain as the proxy's, so a 404 here looks like any other 404.
    if response.content_type == "text/html" and response.status < 400:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
