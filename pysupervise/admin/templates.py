"""HTML of the admin pages, as small functions of plain data; every value from outside is escaped here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html import escape
from typing import Sequence

from pysupervise.admin.ansi import ansi_to_html, strip_ansi
from pysupervise.admin.files import TextSlice
from pysupervise.admin.urls import AdminUrls
from pysupervise.logs.app_logs import LogFile

# A search that matches everything must not build a page of a million lines.
MAX_MATCHES = 5000


@dataclass(frozen=True)
class SideFileRow:
    name: str
    size: int | None  # None when the file does not exist yet


@dataclass(frozen=True)
class FileFacts:
    """What the file view's header says about a file."""

    app: str
    name: str
    size: int
    log: LogFile | None
    live: bool
    earlier: str | None = None  # the previous / next file of the same worker stream, when it still exists
    later: str | None = None


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(urls: AdminUrls, title: str, crumbs: Sequence[tuple[str, str | None]], body: str, request_id: str,
         head: str = "") -> str:
    """A whole admin page; `head` is trusted markup for <head> (the caller escapes what goes in it)."""
    trail = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' if href else f"<span>{escape(text)}</span>"
                    for text, href in crumbs)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · pysupervise</title>"
            f'<link rel="stylesheet" href="{escape(urls.asset("admin.css"))}">'
            f'<script src="{escape(urls.asset("admin.js"))}" defer></script>{head}</head><body>'
            f'<header class="top"><a class="brand" href="{escape(urls.index())}">pysupervise</a>'
            f'<nav class="crumbs">{trail}</nav></header><main>{body}</main>'
            f"<footer>request {escape(request_id)}</footer></body></html>\n")


def logs_index(urls: AdminUrls, app: str, files: Sequence[LogFile], live: set[str], side: Sequence[SideFileRow],
               events: Sequence[str], limits: str) -> str:
    rows = []
    for log in files:
        stderr = log.stream == "stderr"
        view, raw = urls.file(app, log.name), urls.raw(app, log.name)
        part = f"part {log.sequence + 1}" if log.sequence else ""
        live_badge = ' <span class="badge live">writing</span>' if log.name in live else ""
        rows.append(
            f'<tr class="{"stderr" if stderr else "stdout"}"><td class="num">{log.slot}</td>'
            f'<td class="num">{log.pid}</td>'
            f'<td><span class="badge {log.stream}">{log.stream}</span>{live_badge}</td>'
            f"<td>{escape(utc(log.created))}</td>"
            f'<td class="num" title="{log.size} bytes">{escape(human_size(log.size))}</td>'
            f'<td>{escape(part)}</td>'
            f'<td class="links"><a href="{escape(view)}">{escape(log.name)}</a>'
            f'<a href="{escape(raw)}">raw</a><a href="{escape(raw)}" download>download</a></td></tr>')
    table = ("<table><thead><tr><th>worker</th><th>pid</th><th>stream</th><th>created</th><th>size</th><th></th>"
             f"<th>file</th></tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows
             else '<p class="empty">No worker output yet.</p>')
    side_rows = "".join(
        f'<tr><td><a href="{escape(urls.file(app, row.name))}">{escape(row.name)}</a></td>'
        f'<td class="num">{escape(human_size(row.size))}</td>'
        f'<td class="links"><a href="{escape(urls.raw(app, row.name))}">raw</a></td></tr>'
        if row.size is not None else
        f'<tr><td>{escape(row.name)}</td><td class="num">–</td><td class="planned">not written yet</td></tr>'
        for row in side)
    event_text = escape("\n".join(events)) if events else "No events yet."
    return (f"<h1>{escape(app)} · logs</h1>"
            f'<div id="files" data-refresh><p class="meta">{len(files)} worker files, newest first · '
            f'{escape(limits)}</p><div class="card">{table}</div></div>'
            f'<h2>Recent events</h2><pre class="events" id="events" data-refresh>{event_text}</pre>'
            f'<h2>Other logs</h2><div class="card" id="side" data-refresh><table><tbody>{side_rows}</tbody></table>'
            "</div>")


def _line(html_text: str, number: int | None = None) -> str:
    attribute = f' data-n="{number}"' if number is not None else ""
    return f'<span class="l"{attribute}>{html_text}\n</span>'


def _highlight(text: str, query: str) -> str:
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    out, position = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[position:match.start()]))
        out.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)


def file_view(urls: AdminUrls, facts: FileFacts, shown: TextSlice, query: str) -> str:
    app, name, log = facts.app, facts.name, facts.log
    lines = shown.text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if query:
        needle = query.casefold()
        # Line numbers are only known when the whole file is shown.
        numbered = not shown.truncated
        matches = []
        for number, line in enumerate(lines, 1):
            plain = strip_ansi(line) if "\x1b" in line else line
            if needle in plain.casefold():
                matches.append((number, strip_ansi(plain)))
        total = len(matches)
        matches = matches[-MAX_MATCHES:]
        body = "".join(_line(_highlight(text, query), number if numbered else None) for number, text in matches)
        css = "log search" if numbered else "log nonum"
        more = f" (the last {len(matches)} are shown)" if total > len(matches) else ""
        summary = (f'<p class="notice">{total} of {len(lines)} lines contain “{escape(query)}”{more}. '
                   f'<a href="{escape(urls.file(app, name))}">Show all lines</a></p>')
    else:
        body = "".join(_line(ansi_to_html(line)) for line in lines)
        css = "log nonum" if shown.truncated else "log"
        summary = ""
    if shown.truncated:
        summary += (f'<p class="notice">Showing the last {escape(human_size(shown.end - shown.start))} of '
                    f'{escape(human_size(shown.size))}. <a href="{escape(urls.raw(app, name))}">The whole file '
                    f"(raw)</a>.</p>")
    if log is not None:
        about = (f"worker {log.slot} · pid {log.pid} · {log.stream} · created {utc(log.created)}"
                 + (f" · part {log.sequence + 1}" if log.sequence else ""))
    else:
        about = {"events.log": "spawns, readiness, exits and reloads",
                 "access.log": "one line per request"}.get(name, "")
    about += f" · {human_size(facts.size)}" + (" · being written" if facts.live else "")
    parts = "".join(f' · <a href="{escape(urls.file(app, target))}">{label}</a>'
                    for label, target in (("earlier part", facts.earlier), ("next part", facts.later)) if target)
    tail = urls.tail(app, name, start=shown.end, query=query)
    toolbar = (f'<div class="toolbar"><form method="get" action="{escape(urls.file(app, name))}" role="search">'
               f'<input type="search" name="q" value="{escape(query)}" placeholder="Filter lines…" '
               f'aria-label="Filter lines"><button type="submit">Search</button></form>'
               f'<span class="links"><a href="{escape(urls.raw(app, name))}">raw</a>'
               f'<a href="{escape(urls.raw(app, name))}" download>download</a>'
               f'<a href="{escape(urls.logs(app))}">all files</a></span>'
               f'<label data-js-only hidden><input type="checkbox" id="follow" checked> follow</label>'
               f'<span class="status" data-tail-status data-js-only hidden>connecting…</span></div>')
    badge = ' <span class="badge stderr">stderr</span>' if log is not None and log.stream == "stderr" else ""
    return (f'<h1>{escape(name)}{badge}</h1>'
            f'<p class="meta">{escape(about)}{parts}</p>{toolbar}{summary}'
            f'<pre class="{css}" data-tail="{escape(tail)}" data-file="{escape(name)}">{body}</pre>'
            f'<noscript><p class="meta">New lines appear live with JavaScript; without it, reload the page.'
            f"</p></noscript>")
