"""HTML of the debugger page and its small answer pages; every value from outside is escaped here."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from pysupervise.admin.urls import AdminUrls


@dataclass(frozen=True)
class DebugPageFacts:
    """What the page's script starts from."""

    app: str
    base: str          # /<app>/<debug_segment>/
    app_dir: str       # the real path of the app's dir: frames and breakpoints use absolute paths
    entry: str         # the app module's file, relative to app_dir, shown first ("" if unknown)
    problem: str       # why no debug worker runs ("" when one does)
    idle_timeout: float


def _shell(urls: AdminUrls, title: str, crumbs: str, body: str, head: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · pysupervise</title>"
            f'<link rel="stylesheet" href="{escape(urls.asset("admin.css"))}">{head}</head><body>'
            f'<header class="top"><a class="brand" href="{escape(urls.index())}">pysupervise</a>'
            f'<nav class="crumbs">{crumbs}</nav></header>{body}</body></html>\n')


def _crumbs(urls: AdminUrls, app: str) -> str:
    return (f'<a href="{escape(urls.index())}">apps</a><span>{escape(app)}</span>'
            f'<a href="{escape(urls.logs(app))}">logs</a><span>debug</span>')


def debugger_page(urls: AdminUrls, facts: DebugPageFacts, css: str, js: str) -> str:
    head = f'<link rel="stylesheet" href="{escape(css)}"><script src="{escape(js)}" defer></script>'
    problem = (f'<p class="dbg-problem" id="problem">{escape(facts.problem)}</p>' if facts.problem else "")
    minutes = f"{facts.idle_timeout / 60:g} min" if facts.idle_timeout >= 60 else f"{facts.idle_timeout:g} s"
    body = f"""
<main class="dbg" data-debugger data-app="{escape(facts.app)}" data-base="{escape(facts.base)}"
      data-dir="{escape(facts.app_dir)}" data-entry="{escape(facts.entry)}">
 {problem}
 <div class="dbg-bar">
  <span class="dbg-state" id="state" data-state="connecting">connecting…</span>
  <span class="dbg-where" id="where"></span>
  <span class="dbg-buttons">
   <button id="btn-continue" title="Continue (F8)" disabled>Continue</button>
   <button id="btn-pause" title="Pause">Pause</button>
   <button id="btn-next" title="Step over (F10)" disabled>Step over</button>
   <button id="btn-in" title="Step into (F11)" disabled>Step in</button>
   <button id="btn-out" title="Step out (Shift+F11)" disabled>Step out</button>
   <button id="btn-detach" title="Let the worker run on and stop it">Detach</button>
  </span>
  <a class="dbg-kill" href="{escape(facts.base)}?kill">stop debug worker</a>
 </div>
 <p class="dbg-hint">Requests from this browser go to the debug worker: open the app in another tab.
  Everyone else keeps the normal workers. Click a line number to set a breakpoint. Idle sessions detach after
  {minutes}.</p>
 <div class="dbg-grid">
  <aside class="dbg-panel dbg-files">
   <h2>Files</h2>
   <input type="search" id="file-filter" placeholder="Filter files…" aria-label="Filter files">
   <ul id="files" class="dbg-list"></ul>
   <h2>Breakpoints</h2>
   <ul id="breakpoints" class="dbg-list dbg-bps"><li class="empty">none</li></ul>
  </aside>
  <section class="dbg-panel dbg-source">
   <div class="dbg-file" id="file-name">no file</div>
   <div class="src" id="source" role="grid" aria-label="source"></div>
  </section>
  <aside class="dbg-panel dbg-inspect">
   <h2>Call stack</h2>
   <ol id="stack" class="dbg-list dbg-stack"><li class="empty">running</li></ol>
   <h2>Variables</h2>
   <div id="variables" class="tree"><p class="empty">pause to see variables</p></div>
   <h2>Evaluate <small>in the selected frame</small></h2>
   <form id="evaluate" class="dbg-eval" autocomplete="off">
    <input id="expression" placeholder="request.path, len(items) …" aria-label="Expression">
    <button type="submit">Run</button>
   </form>
   <div id="results" class="dbg-results tree"></div>
  </aside>
 </div>
 <div class="dbg-lower">
  <section class="dbg-panel"><h2>Events</h2><pre id="events" class="events"></pre></section>
  <section class="dbg-panel"><h2>Workers <small>stack dumps do not stop them</small></h2>
   <table id="workers"><tbody></tbody></table><pre id="dump" class="events" hidden></pre></section>
 </div>
 <details class="dbg-panel dbg-vscode" id="vscode">
  <summary>Attach VS Code instead</summary>
  <ol>
   <li>VS Code must run on this host: the port below listens on 127.0.0.1 only, and debugpy asks no password,
       so nothing opens until you click.</li>
   <li><button id="vscode-allow">Allow VS Code to attach</button> This ends the browser session here and starts
       a fresh debug worker that waits for VS Code.</li>
   <li>Add this to <code>.vscode/launch.json</code> and start it (F5):</li>
  </ol>
  <pre id="launch" class="events">click the button first</pre>
  <p class="meta">Requests from this browser still reach the debug worker. Open
   <a href="{escape(facts.base)}?kill">?kill</a> when you are done: it closes the port.</p>
 </details>
</main>"""
    return _shell(urls, f"{facts.app} debug", _crumbs(urls, facts.app), body, head)


def message_page(urls: AdminUrls, app: str, title: str, text: str, link: tuple[str, str] | None = None) -> str:
    """The short answer of ?kill, and the stop before starting a debugger from another site's link."""
    action = f'<p><a class="dbg-button" href="{escape(link[1])}">{escape(link[0])}</a></p>' if link else ""
    body = f'<main><h1 id="answer">{escape(title)}</h1><p class="meta">{escape(text)}</p>{action}</main>'
    return _shell(urls, f"{app} debug", _crumbs(urls, app), body)
