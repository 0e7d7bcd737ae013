"""Log text to safe HTML: escaped, ANSI colours as class-only spans, every other control sequence removed."""

from __future__ import annotations

import html
import re

# SGR sequences become spans; any other CSI, OSC (titles, hyperlinks) or two-byte escape is dropped.
_ESCAPES = re.compile(r"\x1b\[([0-9;:]*)m|\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
# C0 controls except tab, and DEL and C1: invisible or terminal-only, never meaningful in a page.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_BASIC = {30: "fg0", 31: "fg1", 32: "fg2", 33: "fg3", 34: "fg4", 35: "fg5", 36: "fg6", 37: "fg7",
          90: "fg8", 91: "fg9", 92: "fg10", 93: "fg11", 94: "fg12", 95: "fg13", 96: "fg14", 97: "fg15",
          40: "bg0", 41: "bg1", 42: "bg2", 43: "bg3", 44: "bg4", 45: "bg5", 46: "bg6", 47: "bg7",
          100: "bg8", 101: "bg9", 102: "bg10", 103: "bg11", 104: "bg12", 105: "bg13", 106: "bg14", 107: "bg15"}
_FLAGS = {1: "b", 2: "dim", 3: "i", 4: "u"}
_CLEARS = {22: ("b", "dim"), 23: ("i",), 24: ("u",)}


def strip_ansi(text: str) -> str:
    """The text a person reads: no escape sequences, no control characters (tab kept)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


class _Style:
    """The SGR state within one line: a foreground, a background and flags, as CSS class names."""

    def __init__(self) -> None:
        self.fg = ""
        self.bg = ""
        self.flags: set[str] = set()

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
        index = 0
        while index < len(codes):
            code = codes[index]
            if code == 0:
                self.fg, self.bg, self.flags = "", "", set()
            elif code in (38, 48):
                # 256-colour and RGB colours have no class; skip their arguments so they are not misread.
                index += 2 if index + 1 < len(codes) and codes[index + 1] == 5 else 4
            elif code in _FLAGS:
                self.flags.add(_FLAGS[code])
            elif code in _CLEARS:
                self.flags.difference_update(_CLEARS[code])
            elif code == 39:
                self.fg = ""
            elif code == 49:
                self.bg = ""
            elif code in _BASIC:
                name = _BASIC[code]
                if name.startswith("fg"):
                    self.fg = name
                else:
                    self.bg = name
            index += 1

    def classes(self) -> str:
        return " ".join(sorted(c for c in (self.fg, self.bg, *self.flags) if c))


def ansi_to_html(line: str) -> str:
    """One line as HTML. Each line starts unstyled, so a colour left open never bleeds into the next line."""
    if "\x1b" not in line:
        return html.escape(_CONTROLS.sub("", line))  # most lines: no colours, and a C-speed path
    style = _Style()
    out: list[str] = []
    position = 0
    open_span = False
    for match in _ESCAPES.finditer(line):
        out.append(html.escape(_CONTROLS.sub("", line[position:match.start()])))
        position = match.end()
        params = match.group(1)
        if params is None:
            continue  # not a colour: dropped
        style.apply(params)
        if open_span:
            out.append("</span>")
            open_span = False
        classes = style.classes()
        if classes:
            out.append(f'<span class="{classes}">')
            open_span = True
    out.append(html.escape(_CONTROLS.sub("", line[position:])))
    if open_span:
        out.append("</span>")
    return "".join(out)
