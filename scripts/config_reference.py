"""The configuration reference (markdown) built from the config dataclasses; `--write` refreshes README.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pysupervise.config.model import (AdminSettings, AppConfig, LogSettings, ProxySettings, ServicesSettings,
                                      SupervisorSettings, settings_of)

SECTIONS = [("[supervisor]", SupervisorSettings), ("[admin]", AdminSettings), ("[proxy]", ProxySettings),
            ("[logs]", LogSettings), ("[services]", ServicesSettings), ("[apps.NAME]", AppConfig)]
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def reference() -> str:
    lines = []
    for title, cls in SECTIONS:
        lines += [f"#### `{title}`", "", "| key | default | meaning |", "|---|---|---|"]
        for key, _parser, default, doc in settings_of(cls):
            shown = "—" if default is None else json.dumps(default)
            lines.append(f"| `{key}` | `{shown}` | {doc.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def readme_section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def write_readme() -> None:
    text = README.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{reference()}\n{END}{after}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(reference())
