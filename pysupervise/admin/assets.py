"""The admin pages' stylesheet and script, served by the admin app itself (no CDN, nothing inline)."""

from __future__ import annotations

import hashlib

from aiohttp import web

CSS = """
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e3e6ec; --accent: #2f6fde;
        --err: #c62f3c; --err-bg: #fdecee; --log-bg: #10141c; --log-ink: #d8dee9; --gutter: #5a6478;
        color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --card: #161b22; --ink: #e6edf3; --muted: #8b949e; --line: #2a313c; --accent: #6ea8fe;
          --err: #ff7b86; --err-bg: #3a1d22; --log-bg: #0a0d12; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; gap: 1rem; align-items: baseline; padding: .7rem 1.5rem; background: var(--card);
             border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; color: var(--ink); letter-spacing: .01em; }
.crumbs a, .crumbs span { color: var(--muted); }
.crumbs > * + *::before { content: "/"; margin: 0 .45rem; color: var(--line); }
main { padding: 1.2rem 1.5rem 2rem; max-width: 1400px; }
h1 { font-size: 1.35rem; margin: .2rem 0 .6rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .8rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; }
tr:last-child td { border-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.stderr td:first-child { box-shadow: inset 3px 0 0 var(--err); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .78rem;
         background: var(--line); color: var(--ink); }
.badge.stderr { background: var(--err-bg); color: var(--err); font-weight: 600; }
.badge.live { background: #e3f6e8; color: #1f7a3a; }
.links a + a { margin-left: .7rem; }
.planned { color: var(--muted); font-size: .8rem; }
.empty { color: var(--muted); padding: 1rem; }
.toolbar { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: center; margin: 0 0 .7rem; }
.toolbar form { display: flex; gap: .4rem; }
.toolbar input[type=search] { min-width: 18rem; padding: .35rem .55rem; border: 1px solid var(--line);
                              border-radius: 6px; background: var(--card); color: var(--ink); font: inherit; }
.toolbar button { padding: .35rem .8rem; border: 1px solid var(--line); border-radius: 6px; background: var(--card);
                  color: var(--ink); font: inherit; cursor: pointer; }
.status { font-size: .85rem; color: var(--muted); }
.status::before { content: "●"; margin-right: .3rem; }
.status[data-state=live]::before { color: #2da44e; }
.status[data-state=down]::before { color: var(--err); }
.notice { background: var(--card); border: 1px solid var(--line); border-left: 3px solid var(--accent);
          padding: .5rem .8rem; border-radius: 6px; margin: 0 0 .7rem; }
pre.log, pre.events { margin: 0; padding: .7rem 0; background: var(--log-bg); color: var(--log-ink);
                      border-radius: 8px; overflow: auto; font: 13px/1.5 ui-monospace, "SF Mono", Menlo, Consolas,
                      monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.log { max-height: calc(100vh - 15rem); min-height: 8rem; counter-reset: ln; }
pre.events { padding: .7rem 1rem; max-height: 24rem; }
.log .l { display: block; padding: 0 1rem 0 4.6rem; text-indent: -3.6rem; }
.log .l:hover { background: rgba(255, 255, 255, .05); }
.log .l::before { counter-increment: ln; content: counter(ln); display: inline-block; width: 3ch; min-width: 2.8rem;
                  margin-right: .8rem; text-align: right; color: var(--gutter); text-indent: 0; user-select: none; }
.log.search .l::before { content: attr(data-n); }
.log.nonum .l::before { content: ""; }
.log .l[hidden] { display: none; }
.log .rolled { display: block; color: var(--gutter); padding: .2rem 1rem; border-top: 1px dashed var(--gutter); }
.log mark { background: #f5d76e; color: #111; border-radius: 2px; }
.b { font-weight: 700; } .dim { opacity: .65; } .i { font-style: italic; } .u { text-decoration: underline; }
.fg0 { color: #5c6370; } .fg1 { color: #ef596f; } .fg2 { color: #89ca78; } .fg3 { color: #e5c07b; }
.fg4 { color: #61afef; } .fg5 { color: #d55fde; } .fg6 { color: #2bbac5; } .fg7 { color: #d8dee9; }
.fg8 { color: #7f848e; } .fg9 { color: #ff7b86; } .fg10 { color: #a5e075; } .fg11 { color: #f0d58c; }
.fg12 { color: #7cc5ff; } .fg13 { color: #e48bf0; } .fg14 { color: #56d6e0; } .fg15 { color: #ffffff; }
.bg0 { background: #3b4048; } .bg1 { background: #7a2430; } .bg2 { background: #2f5a26; } .bg3 { background: #7a6326; }
.bg4 { background: #24507a; } .bg5 { background: #6a2a72; } .bg6 { background: #1d5e63; } .bg7 { background: #9aa3b2; }
.bg8 { background: #5c6370; } .bg9 { background: #a83a4a; } .bg10 { background: #4f8a3b; }
.bg11 { background: #a88a3b; } .bg12 { background: #3b75a8; } .bg13 { background: #8f3f9a; }
.bg14 { background: #2f8a91; } .bg15 { background: #c8ced8; }
footer { color: var(--muted); font-size: .78rem; padding: 0 1.5rem 1.5rem; }
.badge.ok { background: #e3f6e8; color: #1f7a3a; }
.badge.busy { background: #fdf3d7; color: #8a6100; }
.badge.bad { background: var(--err-bg); color: var(--err); font-weight: 600; }
.badge.debug { background: #ece3fb; color: #6a3fc1; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .6rem; margin: 0 0 .4rem; }
.fact { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .8rem; }
.fact dt { font-size: .72rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; }
.fact dd { margin: .15rem 0 0; font-size: 1.05rem; font-variant-numeric: tabular-nums; }
.fact small { display: block; color: var(--muted); font-size: .78rem; }
.notice.error { border-left-color: var(--err); }
.reason { color: var(--err); font-size: .8rem; white-space: normal; max-width: 28rem; }
"""

# Enhancements only: the pages work without it (the search form submits ?q=, the view is server-rendered).
JS = r"""
"use strict";
// Index pages: parts marked data-refresh are fetched again every few seconds, so an open tab never goes stale.
(() => {
  const parts = document.querySelectorAll("[data-refresh]");
  if (!parts.length) return;
  const refresh = async () => {
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of parts) {
        const next = fresh.getElementById(part.id);
        if (next && next.innerHTML !== part.innerHTML) part.innerHTML = next.innerHTML;
      }
    } catch (error) { /* the master may be restarting: try again next time */ }
  };
  setInterval(refresh, 3000);
})();

// Status pages: [data-live] names an event stream whose events carry fresh server-rendered (escaped) HTML for
// parts of the page, by element id, so the page stays current without a reload.
(() => {
  const live = document.querySelector("[data-live]");
  if (!live) return;
  const status = document.querySelector("[data-live-status]");
  for (const el of document.querySelectorAll("[data-js-only]")) el.hidden = false;
  const setStatus = (text, state) => {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
  };
  const source = new EventSource(live.dataset.live);
  source.addEventListener("open", () => setStatus("live", "live"));
  source.addEventListener("error", () => {
    setStatus(source.readyState === EventSource.CLOSED ? "stopped" : "reconnecting…", "down");
  });
  source.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    for (const [id, html] of Object.entries(message.html || {})) {
      const part = document.getElementById(id);
      if (part) part.innerHTML = html;
    }
  });
})();

(() => {
  const log = document.querySelector("pre.log");
  if (!log) return;
  const status = document.querySelector("[data-tail-status]");
  const follow = document.querySelector("#follow");
  const filter = document.querySelector("input[name=q]");
  for (const el of document.querySelectorAll("[data-js-only]")) el.hidden = false;
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.scrollTop = log.scrollHeight;

  const applyFilter = (line) => {
    const q = filter ? filter.value.trim().toLowerCase() : "";
    line.hidden = q !== "" && !line.textContent.toLowerCase().includes(q);
  };
  if (filter) {
    filter.addEventListener("input", () => log.querySelectorAll(".l").forEach(applyFilter));
  }
  if (!log.dataset.tail) return;

  let current = log.dataset.file;
  const setStatus = (text, state) => {
    if (!status) return;
    status.textContent = text;
    status.dataset.state = state;
  };
  const source = new EventSource(log.dataset.tail);
  source.addEventListener("open", () => setStatus("live", "live"));
  source.addEventListener("error", () => {
    setStatus(source.readyState === EventSource.CLOSED ? "stopped" : "reconnecting…", "down");
  });
  source.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    const stick = (!follow || follow.checked) && atBottom();
    if (message.file !== current) {
      const rolled = document.createElement("span");
      rolled.className = "rolled";
      rolled.textContent = "continued in " + message.file;
      log.append(rolled);
      current = message.file;
      setStatus("live · " + current, "live");
    }
    message.html.forEach((html) => {
      const line = document.createElement("span");
      line.className = "l";
      line.innerHTML = html + "\n";  // server-escaped; colours are class-only spans
      applyFilter(line);
      log.append(line);
    });
    if (stick) log.scrollTop = log.scrollHeight;
  });
})();
"""

_ASSETS = {"admin.css": (CSS, "text/css"), "admin.js": (JS, "text/javascript")}
# A content hash in the URL lets browsers cache the assets for good and still see every change.
VERSION = hashlib.sha256((CSS + JS).encode()).hexdigest()[:12]


def asset_response(name: str) -> web.Response | None:
    found = _ASSETS.get(name)
    if found is None:
        return None
    text, content_type = found
    response = web.Response(text=text, content_type=content_type, charset="utf-8")
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
