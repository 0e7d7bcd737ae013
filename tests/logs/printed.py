"""Parsing what `pysupervise logs` prints, for the tests of logs/follow.py and of the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})(?P<approx>[ ~]) gen (?P<gen>\d+|\?)"
                   r"(?P<old> \(old\))? +slot (?P<slot>\d+) +pid (?P<pid>\d+) +(?P<stream>stdout|stderr) \| "
                   r"(?P<text>.*)")


@dataclass(frozen=True)
class Printed:
    time: str
    exact: bool
    generation: str
    old: bool
    slot: int
    pid: int
    stream: str
    text: str


def parse(line: str) -> Printed:
    match = _LINE.fullmatch(line)
    assert match is not None, f"not a `pysupervise logs` line: {line!r}"
    return Printed(match["time"], match["approx"] == " ", match["gen"], bool(match["old"]), int(match["slot"]),
                   int(match["pid"]), match["stream"], match["text"])


def texts(lines: list[str]) -> list[str]:
    return [parse(line).text for line in lines]
