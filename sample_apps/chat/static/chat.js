// The chat page: one websocket to whichever worker the proxy picked; every message comes back
// through the bus, each row showing (and coloured by) the host/worker that received it: behind a
// load balancer every host has a worker 0. All text goes in as text.
(function () {
  "use strict";
  var COLOURS = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e67700", "#0c8599", "#c2255c", "#5c940d"];
  var form = document.getElementById("send");
  var nickname = document.getElementById("nickname");
  var message = document.getElementById("message");
  var rows = document.querySelector("#messages tbody");
  var badge = document.getElementById("worker");
  var status = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var socket = null, connectedBefore = false, retryDelay = 500;

  // One colour per host/worker: a small string hash, so worker 0 of two hosts differ (most of the time).
  function colourOf(host, worker) {
    var key = (host || "") + "/" + worker, hash = 0;
    for (var i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    return COLOURS[Math.abs(hash) % COLOURS.length];
  }

  function workerName(host, worker) { return host ? host + "/" + worker : "worker " + worker; }

  function cell(text, className) {
    var td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    return td;
  }

  function addRow(m) {
    var row = document.createElement("tr");
    row.setAttribute("data-source-worker", String(m.sourceWorker));
    row.setAttribute("data-source-host", m.sourceHost || "");
    var who = cell(workerName(m.sourceHost, m.sourceWorker), "worker");
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(m.sourceHost, m.sourceWorker);
    who.prepend(swatch);
    row.style.borderLeftColor = colourOf(m.sourceHost, m.sourceWorker);
    row.append(who, cell(m.nickname, "nickname"), cell(m.message, "text"));
    rows.insertBefore(row, rows.firstChild);
    while (rows.children.length > 500) rows.removeChild(rows.lastChild);
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  }

  function send(text) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({nickname: nickname.value, message: text}));
      return true;
    }
    showError("not connected; reconnecting…");
    return false;
  }

  function connect() {
    socket = new WebSocket(new URL("ws", location.href).href.replace(/^http/, "ws"));
    socket.onmessage = function (event) {
      var m;
      try { m = JSON.parse(event.data); } catch (e) { return; }
      if (m.type === "welcome") {
        badge.textContent = "connected to " + workerName(m.host, m.worker) + " (pid " + m.pid + ")";
        badge.setAttribute("data-host", m.host || "");
        badge.setAttribute("data-worker", String(m.worker));
        badge.setAttribute("data-pid", String(m.pid));
        badge.style.borderColor = colourOf(m.host, m.worker);
        if (!nickname.value) nickname.value = m.nickname;
        status.textContent = "online";
        retryDelay = 500;
        send(connectedBefore ? "Re-connected" : "Connected");
        connectedBefore = true;
      } else if (m.type === "message") {
        addRow(m);
      } else if (m.type === "error") {
        showError(m.error);
      } else if (m.type === "notice") {
        showError(m.notice);
      }
    };
    socket.onclose = function () {
      status.textContent = "offline, reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    if (send(message.value)) message.value = "";
  });

  connect();
})();
