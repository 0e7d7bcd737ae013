"use strict";
// The debugger page: DAP over one WebSocket to the master (one JSON message per frame). The master
// attaches to the app's debug worker; this page only sends the requests a person clicks for.
(() => {
  const root = document.querySelector("[data-debugger]");
  if (!root) return;
  const { base, dir } = root.dataset;
  const $ = (id) => document.getElementById(id);
  const h = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) if (child != null) node.append(child);
    return node;
  };
  // App files relative to its folder; anything else (libraries, pysupervise) by its last two parts.
  const shortPath = (path) => (!path ? "?" : path.startsWith(dir + "/") ? path.slice(dir.length + 1)
                                             : path.split("/").slice(-2).join("/"));
  const inAppDir = (path) => !!path && path.startsWith(dir + "/");
  history.replaceState(null, "", base);  // a reload must not repeat ?brk or ?kill

  // -- events panel ---------------------------------------------------------------------------
  const eventsBox = $("events");
  const log = (text, kind = "info") => {
    const stick = eventsBox.scrollHeight - eventsBox.scrollTop - eventsBox.clientHeight < 30;
    eventsBox.append(h("span", { class: "ev-" + kind }, text.endsWith("\n") ? text : text + "\n"));
    while (eventsBox.childNodes.length > 2000) eventsBox.firstChild.remove();
    if (stick) eventsBox.scrollTop = eventsBox.scrollHeight;
  };

  // -- DAP over the WebSocket -----------------------------------------------------------------
  class DapSocket {
    constructor(url) {
      this.seq = 1;
      this.waiting = new Map();
      this.handlers = new Map();
      this.open = false;
      this.ws = new WebSocket(url);
      this.ws.addEventListener("open", () => { this.open = true; });
      this.ws.addEventListener("message", (frame) => this.received(JSON.parse(frame.data)));
      this.ws.addEventListener("close", () => {
        this.open = false;
        for (const { reject } of this.waiting.values()) reject(new Error("the debugger connection closed"));
        this.waiting.clear();
        this.emit("close", {});
      });
    }
    on(event, handler) { this.handlers.set(event, [...(this.handlers.get(event) || []), handler]); }
    emit(event, body) { for (const handler of this.handlers.get(event) || []) handler(body); }
    received(message) {
      if (message.type === "response") {
        const pending = this.waiting.get(message.request_seq);
        if (!pending) return;
        this.waiting.delete(message.request_seq);
        if (message.success) pending.resolve(message.body || {});
        else pending.reject(new Error(message.message || message.command + " failed"));
      } else if (message.type === "event") {
        this.emit(message.event, message.body || {});
      }
    }
    request(command, args = {}) {
      if (!this.open) return Promise.reject(new Error("not connected"));
      const seq = this.seq++;
      this.ws.send(JSON.stringify({ seq, type: "request", command, arguments: args }));
      return new Promise((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    }
  }
  const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + base + "ws";
  const dap = new DapSocket(wsUrl);

  // -- state bar and buttons ------------------------------------------------------------------
  const session = { state: "connecting", paused: null, threadId: null, frameId: null };
  const buttons = { continue: $("btn-continue"), pause: $("btn-pause"), next: $("btn-next"),
                    stepIn: $("btn-in"), stepOut: $("btn-out"), detach: $("btn-detach") };
  const showState = (state, text, where = "") => {
    $("state").dataset.state = state;
    $("state").textContent = text;
    $("where").textContent = where;
    const attached = session.state === "attached";
    const paused = attached && session.paused !== null;
    for (const name of ["continue", "next", "stepIn", "stepOut"]) buttons[name].disabled = !paused;
    buttons.pause.disabled = !attached || paused;
    buttons.detach.disabled = ["ended", "vscode"].includes(session.state);
  };
  const step = (command) => {
    if (session.paused === null) return;
    dap.request(command, { threadId: session.threadId }).catch((error) => log(`${command}: ${error.message}`, "stderr"));
  };
  buttons.continue.addEventListener("click", () => step("continue"));
  buttons.next.addEventListener("click", () => step("next"));
  buttons.stepIn.addEventListener("click", () => step("stepIn"));
  buttons.stepOut.addEventListener("click", () => step("stepOut"));
  buttons.pause.addEventListener("click", () => {
    dap.request("pause", { threadId: session.threadId || 1 }).catch((error) => log("pause: " + error.message, "stderr"));
  });
  buttons.detach.addEventListener("click", () => dap.request("disconnect", {}).catch(() => {}));
  document.addEventListener("keydown", (event) => {
    const keys = { F8: "continue", F10: "next", F11: event.shiftKey ? "stepOut" : "stepIn" };
    if (keys[event.key] && session.paused !== null) { event.preventDefault(); step(keys[event.key]); }
  });

  // -- source view ----------------------------------------------------------------------------
  const KEYWORDS = /\b(?:def|class|return|if|elif|else|for|while|in|not|and|or|is|import|from|as|with|try|except|finally|raise|async|await|yield|lambda|pass|break|continue|None|True|False|global|nonlocal|del|assert)\b/;
  const TOKENS = new RegExp(`(#.*$)|("(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*')|(${KEYWORDS.source})`, "g");
  const highlight = (line) => {
    const parts = [];
    let last = 0;
    for (const match of line.matchAll(TOKENS)) {
      parts.push(line.slice(last, match.index));
      const kind = match[1] ? "com" : match[2] ? "str" : "kw";
      parts.push(h("span", { class: kind }, match[0]));
      last = match.index + match[0].length;
    }
    parts.push(line.slice(last));
    return parts;
  };
  const view = { path: null, lines: 0, current: null };
  const sourceBox = $("source");
  const sourceCache = new Map();
  const fetchSource = async (path, sourceReference) => {
    if (sourceCache.has(path)) return sourceCache.get(path);
    let text;
    if (inAppDir(path)) {
      const response = await fetch(base + "source?path=" + encodeURIComponent(path), { cache: "no-store" });
      if (!response.ok) throw new Error(`${shortPath(path)} cannot be shown (${response.status})`);
      text = await response.text();
    } else if (sourceReference) {
      text = (await dap.request("source", { sourceReference })).content || "";
    } else {
      throw new Error(`${path} is outside the app's folder; only the app's own files are shown`);
    }
    sourceCache.set(path, text);
    return text;
  };
  const openFile = async (path, line = null, sourceReference = 0) => {
    $("file-name").textContent = shortPath(path);
    let text;
    try {
      text = await fetchSource(path, sourceReference);
    } catch (error) {
      sourceBox.replaceChildren(h("p", { class: "empty" }, error.message));
      view.path = path;
      return;
    }
    if (view.path !== path) {
      const lines = text.split("\n");
      if (lines.length && lines[lines.length - 1] === "") lines.pop();
      sourceBox.replaceChildren(...lines.map((content, i) => h("div", { class: "ln", "data-line": i + 1 },
        h("span", { class: "no", title: "breakpoint (click)" }, String(i + 1)), h("code", {}, highlight(content)))));
      view.path = path;
      view.lines = lines.length;
    }
    for (const item of document.querySelectorAll("#files li")) item.classList.toggle("selected", item.dataset.path === path);
    markBreakpoints();
    markCurrent(line);
  };
  const markCurrent = (line) => {
    for (const old of sourceBox.querySelectorAll(".ln.current")) old.classList.remove("current");
    view.current = line;
    if (line === null) return;
    const row = sourceBox.querySelector(`.ln[data-line="${line}"]`);
    if (row) {
      row.classList.add("current");
      row.scrollIntoView({ block: "center" });
    }
  };
  sourceBox.addEventListener("click", (event) => {
    const number = event.target.closest(".no");
    if (number && view.path) breakpoints.toggle(view.path, Number(number.parentElement.dataset.line));
  });

  // -- breakpoints: the master keeps them across reloads; this page edits them ----------------
  const breakpoints = {
    byPath: new Map(),   // path → [{line, condition, hitCondition, logMessage}]
    verified: new Map(), // path → [{line, verified}]
    replace(all, verified) {
      this.byPath = new Map(Object.entries(all || {}).map(([path, args]) => [path, (args.breakpoints || []).map((b) => ({ ...b }))]));
      this.verified = new Map(Object.entries(verified || {}));
      this.render();
    },
    toggle(path, line) {
      const list = this.byPath.get(path) || [];
      const at = list.findIndex((b) => b.line === line);
      if (at >= 0) list.splice(at, 1);
      else list.push({ line });
      this.byPath.set(path, list.sort((a, b) => a.line - b.line));
      this.send(path);
    },
    edit(path, line, field, value) {
      const found = (this.byPath.get(path) || []).find((b) => b.line === line);
      if (!found) return;
      if (value) found[field] = value;
      else delete found[field];
      this.send(path);
    },
    async send(path) {
      const list = this.byPath.get(path) || [];
      this.render();
      try {
        const body = await dap.request("setBreakpoints", { source: { path, name: path.split("/").pop() }, breakpoints: list });
        this.verified.set(path, body.breakpoints || []);
      } catch (error) {
        log("breakpoints: " + error.message, "stderr");
      }
      this.render();
    },
    isVerified(path, line) {
      return (this.verified.get(path) || []).some((b) => b.line === line && b.verified);
    },
    render() {
      const rows = [];
      for (const [path, list] of this.byPath) {
        for (const bp of list) {
          const field = (name, placeholder) => h("input", { value: bp[name] || "", placeholder, "aria-label": placeholder,
            onchange: (event) => this.edit(path, bp.line, name, event.target.value.trim()) });
          rows.push(h("li", { "data-path": path, "data-line": bp.line },
            h("div", { class: "bp-title" },
              h("a", { onclick: () => openFile(path, null) }, `${shortPath(path)}:${bp.line}`),
              this.isVerified(path, bp.line) ? null : h("span", { class: "unverified", title: "not set in the worker yet" }, "…"),
              h("button", { class: "bp-remove", title: "remove", onclick: () => this.toggle(path, bp.line) }, "✕")),
            field("condition", "condition, e.g. n > 3"), field("hitCondition", "hit count, e.g. 5"),
            field("logMessage", "log message {expr} (no pause)")));
        }
      }
      $("breakpoints").replaceChildren(...(rows.length ? rows : [h("li", { class: "empty" }, "none")]));
      markBreakpoints();
    },
  };
  const markBreakpoints = () => {
    const list = breakpoints.byPath.get(view.path) || [];
    for (const row of sourceBox.querySelectorAll(".ln.bp")) row.classList.remove("bp", "cond", "log", "unverified");
    for (const bp of list) {
      const row = sourceBox.querySelector(`.ln[data-line="${bp.line}"]`);
      if (!row) continue;
      row.classList.add("bp");
      if (bp.logMessage) row.classList.add("log");
      else if (bp.condition || bp.hitCondition) row.classList.add("cond");
      if (session.state === "attached" && !breakpoints.isVerified(view.path, bp.line)) row.classList.add("unverified");
    }
  };

  // -- files ----------------------------------------------------------------------------------
  const loadFiles = async () => {
    const response = await fetch(base + "files", { headers: { Accept: "application/json" }, cache: "no-store" });
    const { files } = await response.json();
    $("files").replaceChildren(...files.map((name) => h("li", { "data-path": dir + "/" + name, title: name },
      h("a", { onclick: () => openFile(dir + "/" + name) }, name))));
    if (!view.path) {
      const first = root.dataset.entry || files[0];
      if (first) openFile(dir + "/" + first);
    }
  };
  $("file-filter").addEventListener("input", (event) => {
    const query = event.target.value.toLowerCase();
    for (const item of document.querySelectorAll("#files li")) item.hidden = !item.title.toLowerCase().includes(query);
  });

  // -- call stack, variables, evaluate ----------------------------------------------------------
  const clearPaused = () => {
    session.paused = null;
    session.frameId = null;
    $("stack").replaceChildren(h("li", { class: "empty" }, "running"));
    $("variables").replaceChildren(h("p", { class: "empty" }, "pause to see variables"));
    markCurrent(null);
  };
  const variableNode = (variable) => {
    const label = [h("span", { class: "name" }, variable.name), " = ", variable.value,
                   variable.type ? h("span", { class: "type" }, "  " + variable.type) : null];
    if (!variable.variablesReference) return h("div", { class: "var" }, label);
    const node = h("details", {}, h("summary", {}, label));
    node.addEventListener("toggle", () => {
      if (node.open && !node.dataset.loaded) { node.dataset.loaded = "1"; expand(node, variable.variablesReference); }
    });
    return node;
  };
  const expand = async (node, reference) => {
    try {
      const { variables } = await dap.request("variables", { variablesReference: reference });
      node.append(...(variables.length ? variables.map(variableNode) : [h("div", { class: "var empty" }, "empty")]));
    } catch (error) {
      node.append(h("div", { class: "var err" }, error.message));
    }
  };
  const selectFrame = async (frame) => {
    session.frameId = frame.id;
    for (const item of document.querySelectorAll("#stack li")) item.classList.toggle("selected", item.dataset.id === String(frame.id));
    const source = frame.source || {};
    if (source.path) openFile(source.path, frame.line, source.sourceReference || 0);
    const box = $("variables");
    try {
      const { scopes } = await dap.request("scopes", { frameId: frame.id });
      box.replaceChildren(...scopes.map((scope) => {
        const node = h("details", { class: "scope", open: !scope.expensive }, h("summary", {}, scope.name));
        node.dataset.loaded = "1";
        expand(node, scope.variablesReference);
        return node;
      }));
    } catch (error) {
      box.replaceChildren(h("p", { class: "empty" }, error.message));
    }
  };
  const onStopped = async (body) => {
    session.paused = body;
    session.threadId = body.threadId;
    let frames = [];
    try {
      frames = (await dap.request("stackTrace", { threadId: body.threadId, levels: 50 })).stackFrames || [];
    } catch (error) {
      log("stack: " + error.message, "stderr");
    }
    const top = frames[0];
    const where = top ? `${shortPath(top.source && top.source.path)}:${top.line} · ${body.reason}` : body.reason;
    showState("paused", "paused", where);
    $("stack").replaceChildren(...frames.map((frame) => h("li", { "data-id": frame.id },
      h("a", { onclick: () => selectFrame(frame) }, frame.name + " ",
        h("span", { class: "loc" }, `${shortPath(frame.source && frame.source.path)}:${frame.line}`)))));
    if (top) selectFrame(top);
  };
  dap.on("stopped", (body) => {
    log(`stopped: ${body.reason}${body.text ? " — " + body.text : ""}`, body.reason === "exception" ? "exception" : "stopped");
    onStopped(body);
  });
  dap.on("continued", () => { clearPaused(); showState("running", "running"); });
  dap.on("output", (body) => log(body.output || "", body.category === "stderr" ? "stderr" : "out"));
  dap.on("terminated", () => log("the debug worker's debugger ended", "info"));
  dap.on("exited", (body) => log(`the debug worker exited (${body.exitCode})`, "info"));

  $("evaluate").addEventListener("submit", async (event) => {
    event.preventDefault();
    const expression = $("expression").value.trim();
    if (!expression) return;
    const results = $("results");
    const row = h("div", {}, h("div", { class: "q" }, "› " + expression));
    results.prepend(row);
    try {
      const args = { expression, context: "repl" };
      if (session.frameId !== null) args.frameId = session.frameId;
      const body = await dap.request("evaluate", args);
      row.append(body.variablesReference ? variableNode({ name: "", value: body.result, variablesReference: body.variablesReference })
                                         : h("div", { class: "a" }, body.result));
    } catch (error) {
      row.append(h("div", { class: "err" }, error.message));
    }
  });

  // -- session state from the master ------------------------------------------------------------
  const LABELS = { starting: "starting", attaching: "attaching…", waiting: "waiting for the debug worker",
                   failed: "failed", ended: "detached", vscode: "VS Code" };
  dap.on("pysupervise", (body) => {
    const previous = session.state;
    session.state = body.state;
    if (body.message) log(body.message, body.state === "failed" ? "stderr" : "info");
    if (body.breakpoints) breakpoints.replace(body.breakpoints, body.verified);
    if (body.state !== previous) loadWorkers();
    if (body.state === "attached") {
      if (previous !== "attached") sourceCache.clear();  // a restarted worker may run new code
      showState("running", "running", body.pid ? `pid ${body.pid} · generation ${body.generation}` : "");
      if (body.stopped) onStopped(body.stopped);
      else clearPaused();
      if (previous !== "attached" && view.path) { const path = view.path; view.path = null; openFile(path); }
    } else {
      clearPaused();
      showState(body.state, LABELS[body.state] || body.state, body.message || "");
    }
  });
  dap.on("close", () => {
    if (session.state === "vscode") return;
    if (session.state !== "ended") { session.state = "ended"; clearPaused(); showState("ended", "disconnected"); }
    $("where").replaceChildren(h("a", { href: base }, "start a new session"));
  });

  // -- workers and their stacks -----------------------------------------------------------------
  const loadWorkers = async () => {
    try {
      const response = await fetch(base + "workers", { headers: { Accept: "application/json" }, cache: "no-store" });
      const { workers } = await response.json();
      $("workers").tBodies[0].replaceChildren(...workers.map((worker) => h("tr", { class: worker.debug ? "debug" : "" },
        h("td", {}, worker.label), h("td", { class: "num" }, String(worker.pid)), h("td", {}, worker.state),
        h("td", {}, h("button", { "data-pid": worker.pid, onclick: () => dump(worker.pid) }, "stack dump")))));
    } catch (error) { /* the master may be reloading the app: next time */ }
  };
  const dump = async (pid) => {
    const box = $("dump");
    box.hidden = false;
    box.textContent = `pid ${pid}: asking for its stacks…`;
    const response = await fetch(`${base}stacks/${pid}`, { cache: "no-store" });
    box.textContent = await response.text();
  };

  // -- VS Code opt-in -------------------------------------------------------------------------------
  $("vscode-allow").addEventListener("click", async () => {
    $("launch").textContent = "starting a debug worker that waits for VS Code…";
    const response = await fetch(base + "vscode", { method: "POST", headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) { $("launch").textContent = body.detail || "failed"; return; }
    $("launch").textContent = `// VS Code attaches to 127.0.0.1:${body.port} (debug worker pid ${body.pid})\n${body.launch}`;
    session.state = "vscode";
    clearPaused();
    loadWorkers();
    showState("vscode", "VS Code", `waits on 127.0.0.1:${body.port} · pid ${body.pid}`);
  });

  loadFiles();
  loadWorkers();
  setInterval(loadWorkers, 5000);
})();
