// The wazstagram page: one websocket to the frontend, a queue of pictures, shown one at a time
// with the newest at the top left — every 100 ms for the first 15, then every 1.5 s.
(function () {
  "use strict";
  var FAST_COUNT = 15, FAST_DELAY = 100, SLOW_DELAY = 1500;
  var MAX_PENDING = 300, MAX_SHOWN = 300;  // a tab left open for days stays small
  var city = document.body.getAttribute("data-city") || "universe";
  var grid = document.getElementById("grid");
  var status = document.getElementById("status");
  var pending = [], seen = new Set(), shown = 0, retryDelay = 500, live = false;

  function setStatus() {
    status.textContent = (live ? "live" : "reconnecting…") + " · " + shown + " picture" + (shown === 1 ? "" : "s");
  }

  // Only http(s) URLs (absolute or on this site) may become an img src.
  function safeUrl(url) {
    if (typeof url !== "string") return null;
    try {
      var parsed = new URL(url, location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  // A pic is the whole Instagram envelope as a string; its data list is newest first, so it is
  // queued oldest first and every picture lands in front of the one before it.
  function enqueue(pic) {
    var envelope;
    try { envelope = JSON.parse(pic); } catch (e) { return; }
    var items = envelope && Array.isArray(envelope.data) ? envelope.data.slice().reverse() : [];
    items.forEach(function (item) {
      if (!item || typeof item.id !== "string" || seen.has(item.id)) return;  // replays after a reconnect
      seen.add(item.id);
      pending.push(item);
    });
    while (pending.length > MAX_PENDING) pending.shift();
  }

  function text(value) { return typeof value === "string" ? value : ""; }

  function show(item) {
    var src = safeUrl(item.images && item.images.low_resolution && item.images.low_resolution.url);
    if (!src) return false;
    var user = text(item.user && item.user.username);
    var caption = text(item.caption && item.caption.text);
    var place = text(item.location && item.location.name);
    var figure = document.createElement("figure");
    figure.className = "pic";
    figure.tabIndex = 0;
    figure.setAttribute("data-id", item.id);
    var image = document.createElement("img");
    image.src = src;
    image.alt = caption || ("photo by @" + user);
    var label = document.createElement("figcaption");
    var who = document.createElement("strong");
    who.className = "user";
    who.textContent = "@" + user;
    var what = document.createElement("span");
    what.className = "caption";
    what.textContent = caption;
    var where = document.createElement("span");
    where.className = "place";
    where.textContent = place;
    label.append(who, what, where);
    figure.append(image, label);
    grid.insertBefore(figure, grid.firstChild);
    while (grid.children.length > MAX_SHOWN) grid.removeChild(grid.lastChild);
    return true;
  }

  function tick() {
    var item = pending.shift();
    if (item && show(item)) {
      shown += 1;
      setStatus();
    }
    setTimeout(tick, shown < FAST_COUNT ? FAST_DELAY : SLOW_DELAY);
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = function () {
      live = true;
      retryDelay = 500;
      setStatus();
      ws.send(JSON.stringify({event: "setCity", data: {city: city}}));
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message && message.event === "newPic" && typeof message.data === "string") enqueue(message.data);
    };
    ws.onclose = function () {
      live = false;
      setStatus();
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  connect();
  tick();
})();
