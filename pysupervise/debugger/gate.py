"""The gate for a debugger page's DAP requests: the allow-list, the shapes the master relies on, and events.log
for whatever runs code in the worker (evaluate, breakpoint conditions, logpoints)."""

from __future__ import annotations

from typing import Any

from pysupervise.debugger.contract import ALLOWED_COMMANDS, Deliver
from pysupervise.debugger.session import DebugSession


class PageLink:
    """One page's seat in an app's session, and the gate for its DAP requests: the allow-list, the shapes the
    master relies on, and events.log for whatever runs code in the worker (evaluate, conditions, logpoints)."""

    def __init__(self, session: DebugSession, deliver: Deliver) -> None:
        self.session, self.deliver = session, deliver

    async def request(self, message: dict[str, Any]) -> None:
        command = message.get("command")
        if message.get("type") != "request" or not isinstance(command, str) or not isinstance(message.get("seq"), int):
            self.deliver(refusal(message, "expected a DAP request: {seq, type: \"request\", command}"))
            return
        if command not in ALLOWED_COMMANDS:
            self.deliver(refusal(message, f"{command!r} is not allowed from the browser"))
            return
        session = self.session
        session.touch()
        arguments = message.get("arguments") if isinstance(message.get("arguments"), dict) else {}
        if command == "disconnect":  # never the adapter's: the session ends, and the worker resumes and stops
            self.deliver({**refusal(message, ""), "success": True})
            session.finish("detached from the debugger page")
            return
        events = session.host.events
        if command == "setBreakpoints":
            problem = breakpoints_problem(arguments)
            if problem:
                self.deliver(refusal(message, problem))
                return
            for bp in arguments["breakpoints"]:
                code = {key: repr(str(bp[key])[:200]) for key in ("condition", "hitCondition", "logMessage")
                        if bp.get(key)}
                if code:
                    events.record("debug-breakpoint", file=repr(arguments["source"]["path"]), line=bp["line"], **code)
        if command == "evaluate":
            events.record("debug-evaluate", expression=repr(str(arguments.get("expression"))[:200]),
                          frame=arguments.get("frameId"), pid=session.worker.pid if session.worker else None)
        answer = await session.forward(command, arguments)
        self.deliver({**answer, "seq": 0, "request_seq": message["seq"]})

    def close(self) -> None:
        self.session.page_left(self)


class QuietLink:
    """The seat of a page that came while VS Code has the debug worker: it only hears the state."""

    async def request(self, message: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def refusal(request: dict[str, Any], message: str) -> dict[str, Any]:
    return {"seq": 0, "type": "response", "request_seq": request.get("seq", 0), "command": request.get("command"),
            "success": False, **({"message": message} if message else {})}


def breakpoints_problem(arguments: dict[str, Any]) -> str:
    source, breakpoints = arguments.get("source"), arguments.get("breakpoints")
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        return "setBreakpoints needs source.path"
    if not isinstance(breakpoints, list) or not all(isinstance(b, dict) and isinstance(b.get("line"), int)
                                                    for b in breakpoints):
        return "setBreakpoints needs breakpoints: [{line: <int>, ...}]"
    return ""
