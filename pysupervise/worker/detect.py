"""Imports "module:attribute" and decides how to serve it: aiohttp, ASGI or WSGI."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any


class AppLoadError(Exception):
    """The app cannot be imported or served; the message is meant for the app's stderr log."""


@dataclass(frozen=True)
class LoadedApp:
    interface: str  # "aiohttp" | "asgi" | "wsgi"
    target: Any     # an aiohttp Application, or a factory to call in the serving loop; an ASGI/WSGI callable
    is_factory: bool


def import_target(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def _required_positional(func: Any) -> int | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in signature.parameters.values() if p.kind in kinds and p.default is p.empty)


def _is_coroutine_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def classify(obj: Any, spec: str, interface: str = "auto") -> LoadedApp:
    """Decide how to serve `obj`; `interface` other than "auto" is taken as given."""
    from aiohttp import web

    if isinstance(obj, web.Application):
        if interface not in ("auto", "aiohttp"):
            raise AppLoadError(f"{spec} is an aiohttp Application, but interface = {interface!r}")
        return LoadedApp("aiohttp", obj, is_factory=False)
    if not callable(obj):
        raise AppLoadError(f"{spec} is a {type(obj).__name__}, not an app: expected an aiohttp Application or "
                           "factory, an ASGI app or a WSGI app")
    if interface == "asgi":
        return LoadedApp("asgi", obj, is_factory=False)
    if interface == "wsgi":
        return LoadedApp("wsgi", obj, is_factory=False)
    required = _required_positional(obj)
    if interface == "aiohttp" or required == 0:
        # A factory: sync or async, returning an aiohttp Application (called inside the serving loop).
        return LoadedApp("aiohttp", obj, is_factory=True)
    if required == 3 and _is_coroutine_callable(obj):
        return LoadedApp("asgi", obj, is_factory=False)
    if required == 2:
        return LoadedApp("wsgi", obj, is_factory=False)
    raise AppLoadError(
        f"cannot tell how to serve {spec}: it takes {required} required arguments. Expected an aiohttp "
        "Application, a factory taking no arguments, an ASGI app (async, scope/receive/send) or a WSGI app "
        "(environ, start_response). Set `interface` in supervisor.toml to say which.")


def load_app(spec: str, interface: str = "auto") -> LoadedApp:
    return classify(import_target(spec), spec, interface)
