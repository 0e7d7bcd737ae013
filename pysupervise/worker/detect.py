"""Imports what `app = "..."` names and decides how to serve it: aiohttp, ASGI or WSGI, or a factory of one."""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from pysupervise.app_target import AppTargetError, parse_app_target

INTERFACES = ("aiohttp", "asgi", "wsgi")
_ARTICLED = {"aiohttp": "an aiohttp", "asgi": "an ASGI", "wsgi": "a WSGI"}


class AppLoadError(Exception):
    """The app cannot be imported or served; the message is meant for the app's stderr log."""


@dataclass(frozen=True)
class LoadedApp:
    interface: str  # "aiohttp" | "asgi" | "wsgi"
    target: Any     # an aiohttp Application, an ASGI or a WSGI callable


@dataclass(frozen=True)
class AppFactory:
    """A callable whose result is the app. Called inside the serving loop: aiohttp factories (and async ones
    of any framework) may create loop-bound objects."""

    spec: str
    func: Any
    interface: str  # what the config asked for: "auto" or one of INTERFACES
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    async def make(self) -> LoadedApp:
        try:
            product = self.func(*self.args, **self.kwargs)
            if inspect.isawaitable(product):
                product = await product
        except Exception:
            raise AppLoadError(f"calling the factory {self.spec} failed:\n{traceback.format_exc()}") from None
        return classify_product(product, self.spec, self.interface)


def import_target(spec: str) -> LoadedApp | AppFactory | Any:
    """The object `spec` names; for "module:factory(args)", an AppFactory that calls it with those args."""
    try:
        target = parse_app_target(spec)
    except AppTargetError as exc:
        raise AppLoadError(f"app = {spec!r}: {exc}") from None
    module = importlib.import_module(target.module)
    obj: Any = module
    for part in target.attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {target.module!r} has no attribute {target.attribute!r}") from None
    if target.called:
        if not callable(obj):
            raise AppLoadError(f"{spec} calls {target.attribute}, but it is {_kind(obj)}, not a factory")
        return AppFactory(spec, obj, "auto", target.args, target.kwargs)
    return obj


def _kind(obj: Any) -> str:
    """How an object is named in errors: its class's full name, e.g. flask.app.Flask."""
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _is_aiohttp_app(obj: Any) -> bool:
    # By sys.modules, not an import: a WSGI or ASGI app's worker need not have aiohttp at all (another
    # interpreter's venv), and an aiohttp Application exists only if its module was imported.
    web = sys.modules.get("aiohttp.web")
    return web is not None and isinstance(obj, web.Application)


def _positional(func: Any) -> tuple[int, bool] | None:
    """(required positional parameters, whether it takes *args), or None when there is no signature."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = signature.parameters.values()
    required = sum(1 for p in params if p.kind in kinds and p.default is p.empty)
    return required, any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


def _is_coroutine_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def _interface_of(obj: Any) -> str | None:
    """"aiohttp", "asgi" or "wsgi" when `obj` is plainly that kind of app, else None."""
    if _is_aiohttp_app(obj):
        return "aiohttp"
    if not callable(obj):
        return None
    shape = _positional(obj)
    if shape is not None and shape[0] == 3 and _is_coroutine_callable(obj):
        return "asgi"
    if shape is not None and shape[0] == 2:
        return "wsgi"
    return None


def _explicit_mismatch(what: str, found: str, interface: str) -> AppLoadError:
    return AppLoadError(f'{what} ({_ARTICLED[found]} app), but supervisor.toml says interface = "{interface}": '
                        f'set interface = "{found}", or remove it ("auto" detects it)')


def classify(obj: Any, spec: str, interface: str = "auto") -> LoadedApp | AppFactory:
    """Decide how to serve what `spec` names; an explicit `interface` is believed unless `obj` plainly contradicts it."""
    if isinstance(obj, AppFactory):  # "module:factory(args)": the config said to call it
        return AppFactory(obj.spec, obj.func, interface, obj.args, obj.kwargs)
    if _is_aiohttp_app(obj):
        if interface not in ("auto", "aiohttp"):
            raise _explicit_mismatch(f"{spec} is {_kind(obj)}", "aiohttp", interface)
        return LoadedApp("aiohttp", obj)
    if not callable(obj):
        raise AppLoadError(f"{spec} is {_kind(obj)}, not an app: expected an aiohttp Application, an ASGI app "
                           "(async, scope/receive/send), a WSGI app (environ, start_response), or a factory "
                           "that returns one of them")
    shape = _positional(obj)
    # Takes no arguments at all: it can only be a factory (Flask's create_app, FastAPI's, aiohttp's).
    takes_nothing = shape is not None and shape == (0, False)
    if interface in ("asgi", "wsgi"):
        if takes_nothing:
            return AppFactory(spec, obj, interface)
        found = _interface_of(obj)
        if found is not None and found != interface:
            raise _explicit_mismatch(f"{spec} is {_kind(obj)}", found, interface)
        return LoadedApp(interface, obj)
    if interface == "aiohttp" or (shape is not None and shape[0] == 0):
        return AppFactory(spec, obj, interface)
    found = _interface_of(obj)
    if found is not None:
        return LoadedApp(found, obj)
    required = "unknown" if shape is None else shape[0]
    raise AppLoadError(
        f"cannot tell how to serve {spec}: it takes {required} required arguments. Expected an aiohttp "
        "Application, a factory taking no arguments, an ASGI app (async, scope/receive/send) or a WSGI app "
        "(environ, start_response). Set `interface` in supervisor.toml to say which.")


def classify_product(product: Any, spec: str, interface: str) -> LoadedApp:
    """What a factory returned, served the way it is; an explicit `interface` it contradicts is an error."""
    found = _interface_of(product)
    what = f"the factory {spec} returned {_kind(product)}"
    if found is None:
        if interface in ("asgi", "wsgi") and callable(product):
            return LoadedApp(interface, product)  # a shape we cannot read (e.g. *args): the config's word
        raise AppLoadError(f"{what}, which is not an app: a factory must return an aiohttp Application, an ASGI app "
                           "(async, scope/receive/send) or a WSGI app (environ, start_response)")
    if interface not in ("auto", found):
        raise _explicit_mismatch(what, found, interface)
    return LoadedApp(found, product)


def load_app(spec: str, interface: str = "auto") -> LoadedApp | AppFactory:
    return classify(import_target(spec), spec, interface)
