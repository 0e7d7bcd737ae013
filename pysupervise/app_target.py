"""What `app = "..."` names: "module:attribute", or gunicorn's "module:factory(literal args)" spelling.

A top-level module because two processes read the same text: the master validates it (config/values.py)
and the worker imports it (worker/detect.py); neither may import the other's side (docs/architecture.md).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

_MODULE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class AppTargetError(ValueError):
    """The text is not a target this runtime can import; the message says what would be."""


@dataclass(frozen=True)
class AppTarget:
    module: str
    attribute: str  # dotted, inside the module
    # "module:factory(...)": call the attribute with these literal arguments and serve what it returns.
    called: bool = False
    args: tuple[Any, ...] = field(default=(), hash=False)
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)


def parse_app_target(text: str) -> AppTarget:
    module, sep, expression = text.partition(":")
    expression = expression.strip()
    if not sep or not _MODULE_PATH.match(module) or not expression:
        raise AppTargetError('expected "module:attribute" (e.g. "myapp.web:app") or "module:factory()" '
                             '(e.g. "myapp:create_app()")')
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise AppTargetError(f'"{expression}" after the colon is neither an attribute name nor a call of one, '
                             'as in "myapp:app" or "myapp:create_app()"') from None
    call = node if isinstance(node, ast.Call) else None
    attribute = _dotted_name(call.func if call is not None else node)
    if attribute is None:
        raise AppTargetError(f'"{expression}" after the colon is neither an attribute name nor a call of one, '
                             'as in "myapp:app" or "myapp:create_app()"')
    if call is None:
        return AppTarget(module, attribute)
    # Literals only, as gunicorn allows: the text comes from a config file, never code to run.
    try:
        args = tuple(ast.literal_eval(arg) for arg in call.args)
        if any(keyword.arg is None for keyword in call.keywords):
            raise ValueError("**kwargs")
        kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise AppTargetError(f"the arguments of {attribute}(...) must be literals (strings, numbers, True, False, "
                             f"None, lists, dicts), as in \"{module}:{attribute}('production', debug=False)\"; "
                             "read anything else from the environment inside the factory (`env` sets it)") from None
    return AppTarget(module, attribute, called=True, args=args, kwargs=kwargs)


def _dotted_name(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
