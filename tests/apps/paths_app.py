"""Test app (aiohttp): answers any path with the path aiohttp decoded and the target it received."""

from aiohttp import web


async def show(request: web.Request) -> web.Response:
    return web.json_response({"path": request.path, "raw_path": request.raw_path,
                              "query": dict(request.query), "headers": [[k, v] for k, v in request.headers.items()]})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", show)
    return app
