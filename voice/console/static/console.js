/* The receptionist console: draws live calls from the desk's SSE stream.
   Plain JavaScript, no libraries, so it runs on an office network with no internet. */
(function () {
  "use strict";

  // Levels, card titles, speakers and the transcript length come from Python
  // (voice/console/facts.py), written into the page as one JSON block.
  var FACTS = JSON.parse(document.getElementById("console-facts").dataset.facts);
  var LEVELS = FACTS.levels;
  var LABELS = FACTS.level_labels;
  var KINDS = FACTS.kind_titles;
  var SPEAKER_LABELS = FACTS.speaker_labels;
  var TRANSCRIPT_LINES = FACTS.transcript_lines;
  var HISTORY_CARDS = 4;       // earlier cards kept (greyed) under the current one
  var ENDED_KEEP_MS = 20000;
  var RETRY_FIRST_MS = 3000;   // after the stream closed for good: wait, then grow the wait
  var RETRY_MAX_MS = 30000;
  var KEEPALIVE_MS = 5 * 60 * 1000;

  var root = document.getElementById("console");
  var callsEl = document.getElementById("calls");
  var idleEl = document.getElementById("idle");
  var connEl = document.getElementById("conn");
  var expiredEl = document.getElementById("login-expired");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var calls = {};
  var source = null;
  var lastEventId = "";
  var retryMs = RETRY_FIRST_MS;
  var retryTimer = null;
  var loginExpired = false;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatElapsed(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  function updateIdle() {
    idleEl.hidden = Object.keys(calls).length > 0;
  }

  function ensureCall(sid, info) {
    var call = calls[sid];
    if (call) return call;
    var node = document.getElementById("call-template").content.firstElementChild.cloneNode(true);
    node.dataset.callSid = sid;
    node.id = "call-" + sid;
    call = { sid: sid, node: node, lines: [], prompts: {}, started: Date.now(), ended: false };
    calls[sid] = call;
    callsEl.appendChild(node);
    applyInfo(call, info || {});
    setLevel(call, null);
    updateIdle();
    return call;
  }

  function applyInfo(call, info) {
    var number = info.from;
    if (number) call.node.querySelector(".caller-number").textContent = number;
    else if (!call.node.querySelector(".caller-number").textContent)
      call.node.querySelector(".caller-number").textContent = SPEAKER_LABELS.caller;
    if (info.started_at) {
      var t = Date.parse(info.started_at);
      if (!isNaN(t)) call.started = t;
    }
    if (info.simulated) call.node.classList.add("simulated");
  }

  function setLevel(call, state) {
    var level = state && LEVELS.indexOf(state.level) >= 0 ? state.level : LEVELS[0];
    var score = state ? Math.max(0, Math.min(1, state.score)) : 0;
    var meter = call.node.querySelector(".meter");
    call.node.dataset.level = level;
    meter.setAttribute("aria-valuenow", String(Math.round(score * 100)));
    meter.querySelector(".meter-fill").style.width = Math.max(4, score * 100) + "%";
    var label = LABELS[level];
    if (state && state.rising && level !== LEVELS[0]) label += " and rising";
    meter.querySelector(".meter-label").textContent = label;
    var list = call.node.querySelector(".reasons");
    list.textContent = "";
    if (state && level !== LEVELS[0]) {
      (state.reasons || []).slice(0, 3).forEach(function (r) { list.appendChild(el("li", "", r)); });
    }
  }

  function sameLine(a, b) {
    return a.speaker === b.speaker && a.text === b.text && a.t_start === b.t_start;
  }

  function addLine(call, line) {
    var lines = call.lines.filter(function (l) {
      return !(l.speaker === line.speaker && !l.final);  // a newer line replaces the partial
    });
    if (line.final && lines.some(function (l) { return l.final && sameLine(l, line); })) {
      call.lines = lines;
    } else {
      lines.push(line);
      call.lines = lines.filter(function (l) { return l.final; }).slice(-TRANSCRIPT_LINES)
        .concat(lines.filter(function (l) { return !l.final; }));
    }
    drawTranscript(call);
  }

  function drawTranscript(call) {
    var list = call.node.querySelector(".transcript");
    list.textContent = "";
    call.lines.forEach(function (l) {
      var li = el("li", "line " + l.speaker + (l.final ? "" : " partial"));
      li.appendChild(el("span", "who", SPEAKER_LABELS[l.speaker] || l.speaker));
      li.appendChild(el("span", "said", l.text));
      list.appendChild(li);
    });
  }

  /* One card at a time is "say this now": a new card takes its place and the one it
     replaces steps down, greyed, to the top of a short history.  The engine decides
     when a card may replace another; the page only shows the newest on top. */
  function addPrompt(call, prompt) {
    if (call.prompts[prompt.id]) return;
    var node = document.getElementById("prompt-template").content.firstElementChild.cloneNode(true);
    node.dataset.promptId = prompt.id;
    node.dataset.kind = prompt.kind;
    node.querySelector(".kind").textContent = KINDS[prompt.kind] || prompt.kind;
    node.querySelector(".text").textContent = prompt.text;
    node.querySelector(".why").textContent = prompt.why || "";
    node.querySelector(".why").title = prompt.why || "";
    node.querySelector(".done").addEventListener("click", function () { act(call, prompt.id, "done"); });
    node.querySelector(".dismiss").addEventListener("click", function () { act(call, prompt.id, "dismissed"); });
    node.dataset.t = String(prompt.t || 0);
    call.prompts[prompt.id] = node;
    var now = call.node.querySelector(".now");
    var current = now.querySelector(".prompt");
    if (current && Number(current.dataset.t) > Number(node.dataset.t)) {
      stepDown(call, node);  // an older card arriving late (a snapshot) goes to the history
      return;
    }
    if (current) stepDown(call, current);
    node.classList.add("current", "fresh");
    now.appendChild(node);
    now.classList.remove("empty");
    setTimeout(function () { node.classList.remove("fresh"); }, 1500);
  }

  function stepDown(call, node) {
    var history = call.node.querySelector(".history");
    node.classList.remove("current", "fresh");
    node.classList.add("earlier");
    var after = Array.prototype.find.call(history.children, function (c) {
      return Number(c.dataset.t) <= Number(node.dataset.t);
    });
    history.insertBefore(node, after || null);  // newest first
    while (history.children.length > HISTORY_CARDS) {
      var old = history.lastElementChild;
      delete call.prompts[old.dataset.promptId];
      old.remove();
    }
    var now = call.node.querySelector(".now");
    if (!now.querySelector(".prompt")) now.classList.add("empty");
  }

  function markPrompt(call, id, status) {
    var node = call.prompts[id];
    if (!node || node.classList.contains("acted")) return;
    node.classList.add("acted", status);
    node.querySelector(".actions").textContent = status === "done" ? "Done ✓" : "Dismissed";
    if (node.classList.contains("current")) stepDown(call, node);  // the top is free again
  }

  function act(call, id, action) {
    var url = root.dataset.actUrl.replace("CALL", encodeURIComponent(call.sid))
      .replace("PROMPT", encodeURIComponent(id));
    var node = call.prompts[id];
    if (!node) return;
    node.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ action: action })
    }).then(function (r) {
      if (r.status === 401) showLoginExpired();
      if (!r.ok || r.redirected) throw new Error("HTTP " + r.status);
      markPrompt(call, id, action);
    }).catch(function () {
      node.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      node.classList.add("failed");
      node.querySelector(".why").textContent = "Could not save — try again.";
    });
  }

  /* The service fell behind transcribing this call (or caught up): say so on the call
     instead of silently showing an old transcript. */
  function setDelayed(call, d) {
    var note = call.node.querySelector(".delay-note");
    note.hidden = !d.delayed;
    note.textContent = "Transcript delayed" + (d.delayed && d.lag_s ? " (" + Math.round(d.lag_s) + " s behind)" : "");
    call.node.classList.toggle("delayed", !!d.delayed);
  }

  function endCall(call) {
    if (call.ended) return;
    call.ended = true;
    call.node.classList.add("ended");
    call.node.querySelector(".ended-note").hidden = false;
    setTimeout(function () { removeCall(call.sid); }, ENDED_KEEP_MS);
  }

  function removeCall(sid) {
    var call = calls[sid];
    if (!call) return;
    call.node.remove();
    delete calls[sid];
    updateIdle();
  }

  /* The snapshot is the whole truth about the desk: it replaces what the page shows.
     Calls it leaves out are over (ended while we were away, or from before a server
     restart); open prompt cards it leaves out were acted on elsewhere or are gone. */
  function applySnapshot(data) {
    var seen = {};
    (data.calls || []).forEach(function (c) {
      seen[c.call_sid] = true;
      var call = ensureCall(c.call_sid, c);
      applyInfo(call, c);
      call.lines = [];
      (c.transcript || []).forEach(function (l) { addLine(call, l); });
      drawTranscript(call);
      setLevel(call, c.frustration);
      var open = {};
      (c.prompts || []).forEach(function (p) { open[p.id] = true; });
      Object.keys(call.prompts).forEach(function (id) {
        var node = call.prompts[id];
        if (!open[id] && !node.classList.contains("acted")) {
          node.remove();
          delete call.prompts[id];
        }
      });
      if (!call.node.querySelector(".now .prompt")) call.node.querySelector(".now").classList.add("empty");
      (c.prompts || []).slice().sort(function (a, b) { return a.t - b.t; })
        .forEach(function (p) { addPrompt(call, p); });
    });
    Object.keys(calls).forEach(function (sid) {
      if (seen[sid]) return;
      if (calls[sid].ended) removeCall(sid);
      else endCall(calls[sid]);
    });
  }

  function on(es, type, handler) {
    es.addEventListener(type, function (e) {
      if (es !== source) return;  // a stream we already gave up on
      if (e.lastEventId) lastEventId = e.lastEventId;
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      handler(data);
    });
  }

  function setConn(state, text) {
    connEl.dataset.state = state;
    connEl.textContent = text;
  }

  function showLoginExpired() {
    if (loginExpired) return;
    loginExpired = true;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    if (source) { source.close(); source = null; }
    setConn("expired", "Not connected");
    var link = expiredEl.querySelector("a");
    link.href = link.href.split("?")[0] + "?next=" +
      encodeURIComponent(window.location.pathname + window.location.search);
    expiredEl.hidden = false;
  }

  function eventsUrl() {
    var url = root.dataset.eventsUrl;
    if (!lastEventId) return url;  // a new EventSource does not send Last-Event-ID itself
    return url + (url.indexOf("?") >= 0 ? "&" : "?") +
      "last_event_id=" + encodeURIComponent(lastEventId);
  }

  /* EventSource retries by itself only after network errors; an HTTP error (a 502
     from a proxy during a restart, a 401 once the login expired) closes it for
     good.  Then ask whether the login is still good: if not, say so; if it is (or
     the server is still down) try again after a growing wait. */
  function scheduleReconnect() {
    if (retryTimer || loginExpired) return;
    var wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    setConn("lost", "Reconnecting in " + Math.round(wait / 1000) + " s…");
    retryTimer = setTimeout(function () {
      retryTimer = null;
      fetch(root.dataset.sessionUrl, {
        credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
      }).then(function (r) {
        if (r.status === 401) showLoginExpired();
        else if (r.ok) connect();
        else scheduleReconnect();
      }).catch(scheduleReconnect);
    }, wait);
  }

  function connect() {
    if (source) source.close();
    var es = new EventSource(eventsUrl());
    source = es;
    es.onopen = function () {
      if (es !== source) return;
      retryMs = RETRY_FIRST_MS;
      setConn("live", "Live");
    };
    es.onerror = function () {
      if (es !== source) return;
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        source = null;
        scheduleReconnect();
      } else {
        setConn("lost", "Reconnecting…");  // the browser retries by itself
      }
    };
    on(es, "snapshot", applySnapshot);
    on(es, "call_started", function (d) { applyInfo(ensureCall(d.call_sid, d), d); });
    on(es, "transcript", function (d) { if (d.text) addLine(ensureCall(d.call_sid), d); });
    on(es, "frustration", function (d) { setLevel(ensureCall(d.call_sid), d); });
    on(es, "prompt", function (d) { addPrompt(ensureCall(d.call_sid), d); });
    on(es, "prompt_update", function (d) {
      if (calls[d.call_sid]) markPrompt(calls[d.call_sid], d.id, d.status);
    });
    on(es, "transcript_delay", function (d) { setDelayed(ensureCall(d.call_sid), d); });
    on(es, "call_ended", function (d) { if (calls[d.call_sid]) endCall(calls[d.call_sid]); });
  }

  setInterval(function () {
    Object.keys(calls).forEach(function (sid) {
      var call = calls[sid];
      if (!call.ended)
        call.node.querySelector(".elapsed").textContent = formatElapsed(Date.now() - call.started);
    });
  }, 1000);

  /* An open console is a login in use: the idle lifetime (VOICE_SESSION_IDLE_MINUTES)
     counts from the last request, and the event stream alone sends none. */
  setInterval(function () {
    if (loginExpired) return;
    fetch(root.dataset.sessionUrl, {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (r) { if (r.status === 401) showLoginExpired(); }).catch(function () {});
  }, KEEPALIVE_MS);

  updateIdle();
  connect();
})();
