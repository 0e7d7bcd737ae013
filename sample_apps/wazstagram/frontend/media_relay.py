"""/media/… on a site that runs no Instagram simulator: fetched from a site that does, so image URLs work on every host."""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

import aiohttp
from aiohttp import web

log = logging.getLogger("wazstagram.frontend")

RELAY_TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_PICTURE_BYTES = 1 << 20  # the simulator's placeholders are a few kB
# Set on relayed requests: a MEDIA_ORIGIN that leads back to a site without the simulator (the load
# balancer, say) would otherwise relay the request around forever.
RELAYED_HEADER = "X-Wazstagram-Relayed"
PASSED_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified")


class MediaRelay:
    """The pictures' URLs are root-relative (/media/…), as Instagram's simulator makes them when hosted. Behind a
    load balancer, a browser asks any host for them, and pysupervise sends /media to the simulator only on the
    host that runs it; on the others the frontend (at /) gets the request and relays it to `origin`."""

    def __init__(self, origin: str | None) -> None:
        self.origin = origin
        self.http: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The HTTP client for the relay (none without an origin), for as long as the app runs."""
        if self.origin is None:
            yield
            return
        async with aiohttp.ClientSession() as self.http:
            yield
        self.http = None

    async def picture(self, request: web.Request) -> web.Response:
        if self.origin is None or self.http is None:
            raise web.HTTPNotFound(text="This site runs no Instagram simulator. Set MEDIA_ORIGIN in the frontend's "
                                        "env to the address of a site that does (e.g. http://10.0.0.1:8080).\n")
        if RELAYED_HEADER in request.headers:
            log.error("MEDIA_ORIGIN %s sent %s back to a site without the simulator", self.origin, request.path)
            return web.Response(status=508, text=f"MEDIA_ORIGIN ({self.origin}) leads to a site that runs no Instagram "
                                                 "simulator either: point it at the host that runs one.\n")
        url = self.origin + request.rel_url.raw_path
        try:
            async with self.http.get(url, headers={RELAYED_HEADER: "1"}, timeout=RELAY_TIMEOUT,
                                     allow_redirects=False) as upstream:
                body = bytearray()
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_PICTURE_BYTES:
                        raise web.HTTPBadGateway(text=f"{url} answered more than {MAX_PICTURE_BYTES} bytes\n")
                headers = {name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers}
                return web.Response(status=upstream.status, body=bytes(body), headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("relaying %s failed: %r", url, exc)
            raise web.HTTPBadGateway(text=f"the Instagram simulator at {self.origin} did not answer: {exc!r}\n") from None
