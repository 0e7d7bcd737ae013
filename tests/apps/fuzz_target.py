"""Test app for the fuzz test: answers anything, and prints the X-Request-Id of every request that reaches it."""

from aiohttp import web


@web.middleware
async def record(request: web.Request, handler):
    # Read by the fuzz test from the worker's stdout log: every id printed here must be in access.log.
    print("fuzz-seen", request.headers.get("X-Request-Id", "-"), flush=True)
    return await handler(request)


async def anything(request: web.Request) -> web.Response:
    body = await request.read()
    if request.path.endswith("/drop"):
        request.transport.abort()  # the worker "crashes" under this request: the proxy must answer 502
        raise web.HTTPServiceUnavailable()
    return web.Response(text=f"{request.method} {len(body)}\n")


def create_app() -> web.Application:
    app = web.Application(middlewares=[record])
    app.router.add_route("*", "/{tail:.*}", anything)
    return app
