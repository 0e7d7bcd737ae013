"""HTML of the status pages (an app's page, its live parts, the apps overview) from app_status() dicts, escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any, Mapping, Sequence

from pysupervise.admin.templates import human_size, utc
from pysupervise.admin.urls import AdminUrls
from pysupervise.debugger.debug_worker import DEBUG_SLOT

# The ids of the parts a live update replaces; the page and the event stream render them the same way.
SUMMARY_ID = "status-summary"
WORKERS_ID = "status-workers"
TRAFFIC_ID = "status-traffic"

# Worker states as CSS classes; anything else the supervisor may report gets the neutral badge.
_STATE_CLASSES = {"starting": "busy", "ready": "ok", "draining": "busy", "stopping": "busy", "debug": "debug",
                  "failed": "bad", "exited": "bad", "running": "ok", "stopped": "busy"}


@dataclass(frozen=True)
class Rate:
    """Requests per second, measured over the last `seconds` (between two snapshots of requests_total)."""

    per_second: float
    seconds: float


def state_badge(state: str) -> str:
    css = _STATE_CLASSES.get(state)
    return f'<span class="badge{" " + css if css else ""}">{escape(state)}</span>'


def duration(seconds: float | int | None) -> str:
    """Uptime as a person reads it: 42s, 3m 12s, 5h 07m, 2d 03h."""
    if seconds is None or seconds <= 0:
        return "–"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def rate_text(rate: Rate | None) -> str:
    if rate is None:
        return "measuring…"
    return f"{rate.per_second:.1f} req/s over the last {rate.seconds:.0f} s"


def _number(value: Any) -> str:
    return escape(str(value)) if value is not None else "–"


def live_workers(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The workers of the live generation that serve normal traffic (not draining ones, not the debug worker)."""
    generation = status.get("generation")
    return [w for w in status.get("workers") or []
            if generation is not None and w.get("generation") == generation and w.get("state") != "debug"]


def debug_enabled(status: Mapping[str, Any]) -> bool:
    """Whether /<app>/<debug_segment> is the debugger. app_status() does not say yet ("debug_enabled" is asked
    for): until it does, the link is shown, as debug = true is the default."""
    return status.get("debug_enabled") is not False


def ready_count(status: Mapping[str, Any]) -> tuple[int, int]:
    workers = live_workers(status)
    return sum(1 for w in workers if w.get("state") == "ready"), len(workers)


def _fact(label: str, value_html: str, detail: str = "") -> str:
    small = f"<small>{escape(detail)}</small>" if detail else ""
    return f"<div class=\"fact\"><dt>{escape(label)}</dt><dd>{value_html}{small}</dd></div>"


def summary(status: Mapping[str, Any], rate: Rate | None) -> str:
    """The app's facts: state, generation, queue, rate, reloads; the failure reason in a banner when failed."""
    state = str(status.get("state", "unknown"))
    ready, total = ready_count(status)
    reload_html, reload_detail = _last_reload(status.get("last_reload") or {})
    facts = [
        _fact("state", state_badge(state)),
        _fact("generation", _number(status.get("generation"))),
        _fact("workers ready", f"{ready}/{total}"),
        _fact("request rate", escape(rate_text(rate))),
        _fact("requests", _number(status.get("requests_total"))),
        _fact("queue length", _number(status.get("queue_length")),
              f"{status.get('queued_total', 0)} queued, {status.get('queue_rejected', 0)} rejected in all"),
        _fact("queue wait p50 / p99", escape(f"{milliseconds(status.get('queue_wait_p50'))} / "
                                             f"{milliseconds(status.get('queue_wait_p99'))}")),
        _fact("restarts", _number(status.get("restarts"))),
        _fact("reloads", escape(f"{status.get('reloads_ok', 0)} ok · {status.get('reloads_failed', 0)} failed")),
        _fact("last reload", reload_html, reload_detail),
        _fact("bytes in / out", escape(f"{human_size(int(status.get('bytes_in') or 0))} / "
                                       f"{human_size(int(status.get('bytes_out') or 0))}")),
    ]
    facts[1:1] = _side_facts(status)
    banner = ""
    if state == "failed" or status.get("failure"):
        banner = (f'<p class="notice error"><b>The app has failed:</b> {escape(str(status.get("failure") or ""))}'
                  " — the logs hold the workers' output.</p>")
    banner += _restart_notices(status)
    error = (status.get("last_reload") or {}).get("error")
    if error and not (status.get("last_reload") or {}).get("ok", True):
        banner += f'<p class="notice error"><b>The last reload failed:</b> {escape(str(error))}</p>'
    return f'{banner}<dl class="facts">{"".join(facts)}</dl>'


def _side_facts(status: Mapping[str, Any]) -> list[str]:
    """For a side of an app with a staging folder: what it serves now, its folder, and the live one."""
    side = status.get("side")
    if not side:
        return []
    role = str(side.get("role"))
    badge = f'<span class="badge {"ok" if role == "production" else "busy"}">{escape(role)}</span>'
    at = ", ".join(status.get("route") or []) + (f" on host {status['host']}" if status.get("host") else "")
    other = f"the other side: {side.get('other')} ({side.get('other_state')}) in {side.get('other_folder')}"
    live = "this folder" if side.get("live_folder") == side.get("folder") else f"served by {side.get('other')}"
    return [_fact("serves", badge, f"at {at}"), _fact("folder", escape(str(side.get("folder"))), other),
            _fact("live folder", escape(str(side.get("live_folder"))), live)]


def _restart_notices(status: Mapping[str, Any]) -> str:
    """A failed app's next automatic try, its crash-looping slots, and (with either) the last exits."""
    parts = []
    if status.get("next_attempt"):
        when = escape(utc(float(status["next_attempt"])))
        parts.append(f'<p class="notice error">It tries again by itself at {when} '
                     f"(tries so far: {escape(str(status.get('recovery_attempts', 0)))}); a save or a reload tries "
                     "now.</p>")
    looping = [s for s in status.get("slots") or [] if s.get("crash_looping")]
    for slot in looping:
        start = f", next start at {utc(float(slot['next_start']))}" if slot.get("next_start") else ""
        parts.append(f'<p class="notice error"><b>Slot {escape(str(slot.get("slot")))} is crash-looping</b> '
                     f"({escape(str(slot.get('exits_in_window')))} exits lately{escape(start)}); the other slots "
                     f"serve. Last: {escape(str(slot.get('last_exit', '')))}</p>")
    exits = status.get("last_exits") or []
    if exits and (parts or status.get("state") == "failed"):
        items = "".join(f"<li>slot {escape(str(e.get('slot')))} at {escape(utc(float(e.get('at') or 0)))}: "
                        f"{escape(str(e.get('how', '')))}</li>" for e in exits)
        parts.append(f'<div class="notice"><b>Last exits</b><ul class="exits">{items}</ul></div>')
    return "".join(parts)


def _last_reload(last: Mapping[str, Any]) -> tuple[str, str]:
    if not last:
        return "–", ""
    ok = bool(last.get("ok"))
    badge = '<span class="badge ok">ok</span>' if ok else '<span class="badge bad">failed</span>'
    parts = []
    if last.get("generation") is not None:
        parts.append(f"generation {last['generation']}")
    if last.get("at"):
        parts.append(utc(float(last["at"])))
    if last.get("trigger"):
        parts.append(str(last["trigger"]))
    return badge, " · ".join(parts)


def worker_table(status: Mapping[str, Any]) -> str:
    workers = status.get("workers") or []
    if not workers:
        return '<p class="empty">No workers are running.</p>'
    rows = []
    for worker in workers:
        state = str(worker.get("state", "?"))
        slot = worker.get("slot")
        pid = worker.get("pid")
        rss = worker.get("rss")
        cpu = worker.get("cpu_percent")
        rows.append(
            f'<tr data-pid="{escape(str(pid or ""))}" data-state="{escape(_css_word(state))}">'
            f'<td class="num">{_number(worker.get("generation"))}</td>'
            f'<td class="num">{"debug" if slot == DEBUG_SLOT else _number(slot)}</td>'
            f'<td class="num">{_number(pid or None)}</td>'
            f"<td>{state_badge(state)}</td>"
            f'<td class="num">{escape(duration(worker.get("uptime")))}</td>'
            f'<td class="num">{_number(worker.get("requests"))}</td>'
            f'<td class="num">{_number(worker.get("in_flight"))}</td>'
            f'<td class="num">{escape(human_size(int(rss))) if rss is not None else "–"}</td>'
            f'<td class="num">{escape(f"{cpu:.1f}%") if isinstance(cpu, (int, float)) else "–"}</td>'
            f'<td class="num">{_number(worker.get("restarts"))}</td></tr>')
    return ("<table><thead><tr><th>generation</th><th>slot</th><th>pid</th><th>state</th><th>uptime</th>"
            "<th>requests</th><th>in flight</th><th>RSS</th><th>CPU</th><th>restarts</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def traffic_table(status: Mapping[str, Any]) -> str:
    counts = status.get("status_counts") or {}
    if not counts:
        return '<p class="empty">No responses yet.</p>'
    total = sum(int(n) for n in counts.values()) or 1
    rows = "".join(
        f'<tr class="{"stderr" if str(code).startswith("5") else ""}"><td>{escape(str(code))}</td>'
        f'<td class="num">{escape(str(count))}</td><td class="num">{100 * int(count) / total:.1f}%</td></tr>'
        for code, count in sorted(counts.items(), key=lambda item: str(item[0])))
    truncated = status.get("truncated_responses") or {}
    cut = ""
    if truncated:
        why = ", ".join(f"{escape(str(reason))}: {escape(str(count))}" for reason, count in truncated.items())
        cut = (f'<p class="stderr">{sum(int(n) for n in truncated.values())} of them cut off after their head '
               f"({why}).</p>")
    return ("<table><thead><tr><th>status</th><th>responses</th><th>share</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{cut}")


def live_parts(status: Mapping[str, Any], rate: Rate | None) -> dict[str, str]:
    """Element id → inner HTML, for the first render and for every live update."""
    return {SUMMARY_ID: summary(status, rate), WORKERS_ID: worker_table(status), TRAFFIC_ID: traffic_table(status)}


def status_page(urls: AdminUrls, app: str, status: Mapping[str, Any], rate: Rate | None,
                debug_link: bool, home: bool = False) -> str:
    """The page's own links (JSON, refresh, events) stay where it was served: /<app>/<status> or, with `home`,
    <index_path>/<app>/."""
    parts = live_parts(status, rate)
    debug = f'<a href="{escape(urls.debug(app))}">debugger</a>' if debug_link else ""
    return (f"<h1>{escape(app)} · status</h1>"
            f'<div class="toolbar"><span class="links"><a href="{escape(urls.logs(app))}">logs</a>{debug}'
            f'<a href="{escape(urls.status_json(app, home))}">JSON</a><a href="{escape(urls.metrics())}">metrics</a>'
            f'<a href="{escape(urls.status(app, home))}">refresh</a></span>'
            f'<span class="status" data-live-status data-js-only hidden>connecting…</span></div>'
            f'<div id="{SUMMARY_ID}" data-live="{escape(urls.status_events(app, home))}">{parts[SUMMARY_ID]}</div>'
            f'<h2>Workers</h2><div class="card" id="{WORKERS_ID}">{parts[WORKERS_ID]}</div>'
            f'<h2>Responses by status</h2><div class="card" id="{TRAFFIC_ID}">{parts[TRAFFIC_ID]}</div>'
            '<noscript><p class="meta">Without JavaScript this page reloads itself every few seconds.</p></noscript>')


def apps_index(urls: AdminUrls, apps: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The index: every app at a glance, with links to its status, logs and debugger."""
    rows = []
    for name, status in apps:
        state = str(status.get("state", "?"))
        generation = status.get("generation")
        ready, total = ready_count(status)
        failure = status.get("failure") or ""
        last = status.get("last_reload") or {}
        if not failure and last and not last.get("ok", True):
            failure = f"last reload failed: {last.get('error', '')}"
        reason = f'<div class="reason">{escape(str(failure))}</div>' if failure else ""
        debug = f'<a href="{escape(urls.debug(name))}">debugger</a>' if debug_enabled(status) else ""
        role = (status.get("side") or {}).get("role")
        role_html = f" <small>{escape(role)}</small>" if role else ""
        rows.append(
            f"<tr><td><b>{escape(name)}</b>{role_html}</td><td>{escape(', '.join(status.get('route') or []))}</td>"
            f"<td>{state_badge(state)}{reason}</td>"
            f'<td class="num">{escape(str(generation if generation is not None else "–"))}</td>'
            f'<td class="num">{ready}/{total}</td>'
            f'<td class="num">{escape(str(status.get("requests_total", "–")))}</td>'
            f'<td class="num">{escape(str(status.get("restarts", "–")))}</td>'
            f'<td class="num">{escape(str(status.get("reloads_failed", "–")))}</td>'
            f'<td class="links"><a href="{escape(urls.status(name))}">status</a>'
            f'<a href="{escape(urls.logs(name))}">logs</a>{debug}</td></tr>')
    table = ("<table><thead><tr><th>app</th><th>route</th><th>state</th><th>generation</th><th>ready workers</th>"
             "<th>requests</th><th>restarts</th><th>failed reloads</th>"
             f"<th>pages</th></tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows
             else '<p class="empty">No apps are configured.</p>')
    metrics = escape(urls.metrics())
    return (f'<h1>Apps</h1><p class="meta">Everything this site hosts · '
            f'<a href="{metrics}">Prometheus metrics</a></p>'
            f'<div class="card" id="apps" data-refresh>{table}</div>')


def _css_word(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower())
