"""The rules a request head must pass before the proxy reads its body: size, method, version, target, Host, length."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pysupervise.proxy.forwarded import valid_host

if TYPE_CHECKING:
    from pysupervise.config import ProxySettings
    from pysupervise.proxy.request import ProxyRequest


class RequestRejected(Exception):
    """Raised inside a parser callback to stop parsing and answer with `status`, then close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def http_minor(version: str) -> int:
    """0 for "1.0"; llhttp also parses "2.0" and "0.9", which get 505 (nginx: "unsupported HTTP version")."""
    if version == "1.0":
        return 0
    if version == "1.1":
        return 1
    raise RequestRejected(505, f"HTTP/{version} is not supported here: use HTTP/1.1")


def check_head(request: "ProxyRequest", head_bytes: int, settings: "ProxySettings", default_host: bytes,
               host_is_valid: Callable[[bytes], bool] = valid_host) -> None:
    """Raise RequestRejected for a head the proxy will not forward; normalize the target and Host otherwise.

    `host_is_valid`: valid_host, or the server's ValidHosts (the same answers, remembered)."""
    if head_bytes > settings.max_header_size:
        raise RequestRejected(431, "the request line and headers are too large")
    if request.method == b"CONNECT":
        raise RequestRejected(405, "CONNECT is not supported: this is a reverse proxy")
    if request.url[:1] != b"/":
        _to_origin_form(request)
    if request.host:
        if not host_is_valid(request.host):
            raise RequestRejected(400, "the Host header is not a valid host[:port]")
    elif request.http_minor == 1:
        raise RequestRejected(400, "HTTP/1.1 requests must carry a Host header")
    else:
        # HTTP/1.0 may omit Host; workers (aiohttp, uvicorn) want one, so name ourselves.
        request.host = default_host
        request.headers.append((b"Host", default_host))
    if request.http_minor == 0 and request.has_body and request.declared_length < 0:
        # A body without Content-Length means Transfer-Encoding, which HTTP/1.0 does not have (as nginx).
        raise RequestRejected(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
    if request.declared_length > settings.max_body_size:
        raise body_too_large(settings)


def body_too_large(settings: "ProxySettings") -> RequestRejected:
    return RequestRejected(413, f"the request body is larger than {settings.max_body_size} bytes (max_body_size)")


def _to_origin_form(request: "ProxyRequest") -> None:
    """`GET http://user@host/path` → path `/path` and Host `host` (RFC 9112 §3.2.2)."""
    url = request.url
    scheme_end = url.find(b"://")
    if scheme_end < 0 or url[:scheme_end].lower() not in (b"http", b"https"):
        raise RequestRejected(400, "the request target must be a path starting with '/'")
    rest = url[scheme_end + 3:]
    ends = [at for at in (rest.find(b"/"), rest.find(b"?")) if at >= 0]
    authority_end = min(ends) if ends else len(rest)
    path = rest[authority_end:]
    request.url = path if path[:1] == b"/" else b"/" + path
    # Userinfo is deprecated (RFC 9110 §4.2.4) and never part of Host; nginx refuses it, we drop it.
    authority = rest[:authority_end].rpartition(b"@")[2]
    if not authority:
        raise RequestRejected(400, "the request target names no host")
    request.host = authority
    request.headers = [(n, v) for n, v in request.headers if n.lower() != b"host"]
    request.headers.append((b"Host", authority))
