"""What the debugger pages may ask of the master: the DebugControl protocol and the plain data it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

# One message for a page (a DAP response or event), or None: the session is over, close the page's socket.
Deliver = Callable[[dict[str, Any] | None], None]

# The only DAP requests a page may send (debugger spec). `attach`, `launch`, `setExceptionBreakpoints`,
# `setVariable`, `terminate` … stay with the master: the browser never chooses how the debugger attaches.
ALLOWED_COMMANDS = frozenset({
    "setBreakpoints", "configurationDone", "threads", "stackTrace", "scopes", "variables", "evaluate",
    "continue", "next", "stepIn", "stepOut", "pause", "disconnect", "source", "loadedSources",
})

# pysupervise's own events on the page's socket carry this DAP event name.
STATE_EVENT = "pysupervise"


class DebugError(Exception):
    """Something the page asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class DebugTarget:
    """An app the debugger may open: its folder, and the module its `app` names (None for a `command`)."""

    name: str
    dir: Path
    module: str | None


@dataclass(frozen=True)
class WorkerRef:
    """One worker of an app as the debugger page lists it."""

    pid: int
    label: str
    generation: int
    slot: int
    state: str
    debug: bool


@dataclass(frozen=True)
class VsCodeAccess:
    """The loopback port where the debug worker's own debugpy waits for VS Code (after the explicit opt-in)."""

    host: str
    port: int
    pid: int


class DebugLink(Protocol):
    """One page's seat in an app's debug session."""

    async def request(self, message: dict[str, Any]) -> None:
        """A DAP request from the page; its response comes back through the page's Deliver."""
        ...

    def close(self) -> None:
        """The page left; the last page to leave ends the session (the worker resumes, then stops)."""
        ...


class DebugControl(Protocol):
    """The master's side of the debugger, handed to the admin app (it never reaches into the master otherwise)."""

    @property
    def idle_timeout(self) -> float:
        ...

    def target(self, app: str) -> DebugTarget | None:
        """The app if it exists and has `debug = true`; None means 404."""
        ...

    def workers(self, app: str) -> list[WorkerRef]:
        ...

    async def start_worker(self, app: str, break_at_start: bool) -> WorkerRef:
        """The running debug worker, or a new one (raises DebugError)."""
        ...

    async def kill(self, app: str) -> bool:
        """End the session and stop the debug worker; False when none was running."""
        ...

    async def connect(self, app: str, deliver: Deliver) -> DebugLink:
        """Join (or start) the app's debug session; state arrives as STATE_EVENT events."""
        ...

    async def stack_dump(self, app: str, pid: int) -> str:
        """Every thread's stack of one of the app's workers, without stopping it (raises DebugError)."""
        ...

    async def hand_to_vscode(self, app: str) -> VsCodeAccess:
        """End the browser session and let a fresh debug worker wait for VS Code on loopback."""
        ...

    async def close(self) -> None:
        """The admin app stops: end every session."""
        ...
