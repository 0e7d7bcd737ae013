"""Test app: FastAPI, routes written without the prefix it is mounted at; /docs and url_for must know it."""

from fastapi import FastAPI, Request


def create_app() -> FastAPI:
    api = FastAPI(title="items")

    @api.get("/items/{item_id}", name="item")
    async def item(item_id: int, request: Request) -> dict:
        return {"item_id": item_id, "self": str(request.url_for("item", item_id=item_id)),
                "root_path": request.scope.get("root_path"), "path": request.url.path}

    return api


app = create_app()


async def create_app_async() -> FastAPI:
    """An async factory: awaited in the loop that serves the app."""
    return create_app()
