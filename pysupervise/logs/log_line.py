"""One line of the merged worker logs (`pysupervise logs`) and how it is printed."""

from __future__ import annotations

import time
from dataclasses import dataclass

_DIM, _RED, _YELLOW, _RESET = "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


@dataclass(frozen=True)
class LogLine:
    """`time`: when the master read the line (exact), or the file's last write or creation (not exact: a
    file of an older pysupervise, without a time index). `generation` is None when unknown."""

    time: float
    exact: bool
    slot: int
    pid: int
    stream: str
    generation: int | None
    old: bool
    text: str


def format_line(line: LogLine, colour: bool = False) -> str:
    """`2026-12-04 16:22:01.123  gen 3       slot 2  pid 4242    stderr | text`, local time; `~` after the
    time when it is not exact, `(old)` after a generation older than the live one. The text is the
    worker's, decoded as UTF-8; colour (a terminal) greys the time and old lines and reddens stderr."""
    seconds, milliseconds = divmod(round(line.time * 1000), 1000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    stamp += f".{milliseconds:03d}" + (" " if line.exact else "~")
    generation = f"gen {line.generation if line.generation is not None else '?'}" + (" (old)" if line.old else "")
    who = f"{generation:<11} slot {line.slot:<2} pid {line.pid:<7}"
    if not colour:
        return f"{stamp} {who} {line.stream} | {line.text}"
    stream = f"{_RED}{line.stream}{_RESET}" if line.stream == "stderr" else line.stream
    who = f"{_DIM}{who}{_RESET}" if not line.old else f"{_YELLOW}{who}{_RESET}"
    return f"{_DIM}{stamp}{_RESET} {who} {stream} | {line.text}"
