"""Instagram v1 response envelopes: {"meta": {...}, "data": ...}, and the error kinds the simulator answers with."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({**extra, "meta": {"code": 200}, "data": data})


def error(error_type: str, message: str, code: int = 400) -> web.Response:
    return web.json_response({"meta": {"code": code, "error_type": error_type, "error_message": message}}, status=code)


def unknown_client() -> web.Response:
    return error("OAuthClientException", "The client_id provided is invalid and does not match a valid application.")


def bad_secret() -> web.Response:
    return error("OAuthClientException", "The client_secret provided is invalid.")


def invalid_parameter(message: str) -> web.Response:
    return error("APIInvalidParametersError", message)
