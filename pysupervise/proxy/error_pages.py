"""Responses pysupervise writes itself: small HTML or JSON (by Accept), always with X-Request-Id."""

from __future__ import annotations

import html
import json

REASONS = {
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Content Too Large", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}

# Sent with 503s: long enough for a queue to drain or a worker to restart, short enough not to lose users.
RETRY_AFTER_SECONDS = 5


def wants_json(accept: bytes) -> bool:
    """JSON when the client asks for it and does not ask for HTML first."""
    if b"json" not in accept:
        return False
    html_at = accept.find(b"text/html")
    return html_at < 0 or accept.find(b"json") < html_at


def error_response(status: int, request_id: bytes, accept: bytes, detail: str, *, diagnostics: str = "",
                   close: bool = False, head_only: bool = False, extra_headers: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response. `diagnostics` (worker stderr) is only passed for loopback clients."""
    reason = REASONS.get(status, "Error")
    rid = request_id.decode("ascii", "replace")
    if wants_json(accept):
        payload = {"status": status, "error": reason, "detail": detail, "request_id": rid}
        if diagnostics:
            payload["worker_stderr"] = diagnostics
        body = json.dumps(payload).encode()
        content_type = b"application/json"
    else:
        stderr = (f"<h2>Last lines of the worker's stderr</h2><pre>{html.escape(diagnostics)}</pre>"
                  if diagnostics else "")
        body = (f"<!doctype html><html><head><meta charset=utf-8><title>{status} {reason}</title></head>"
                f"<body><h1>{status} {reason}</h1><p>{html.escape(detail)}</p>{stderr}"
                f"<hr><small>pysupervise · request {html.escape(rid)}</small></body></html>\n").encode()
        content_type = b"text/html; charset=utf-8"
    head = b"".join((
        b"HTTP/1.1 %d %s\r\n" % (status, reason.encode()),
        b"Content-Type: ", content_type, b"\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"X-Request-Id: ", request_id, b"\r\n",
        b"Cache-Control: no-store\r\n",
        extra_headers,
        b"Connection: close\r\n" if close else b"",
        b"\r\n",
    ))
    return head if head_only else head + body
