/* The receptionist console: draws live calls from the desk's SSE stream.
   Plain JavaScript, no libraries, so it runs on an office network with no internet. */
(function () {
  "use strict";

  var LEVELS = ["calm", "tense", "upset", "escalating"];
  var LABELS = { calm: "Calm", tense: "Tense", upset: "Upset", escalating: "Escalating" };
  var KINDS = { calm: "Stay calm", listen: "Listen", empathize: "Empathize",
                confirm: "Confirm details", own: "Take responsibility", next_step: "Next step",
                close: "Close the call", coach: "Your words" };
  var TRANSCRIPT_LINES = 6;
  var ENDED_KEEP_MS = 20000;

  var root = document.getElementById("console");
  var callsEl = document.getElementById("calls");
  var idleEl = document.getElementById("idle");
  var connEl = document.getElementById("conn");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var calls = {};

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
    var number = info.from || info.from_number;
    if (number) call.node.querySelector(".caller-number").textContent = number;
    else if (!call.node.querySelector(".caller-number").textContent)
      call.node.querySelector(".caller-number").textContent = "Caller";
    if (info.started_at) {
      var t = Date.parse(info.started_at);
      if (!isNaN(t)) call.started = t;
    }
    if (info.simulated) call.node.classList.add("simulated");
  }

  function setLevel(call, state) {
    var level = state && LEVELS.indexOf(state.level) >= 0 ? state.level : "calm";
    var score = state ? Math.max(0, Math.min(1, state.score)) : 0;
    var meter = call.node.querySelector(".meter");
    call.node.dataset.level = level;
    meter.setAttribute("aria-valuenow", String(Math.round(score * 100)));
    meter.querySelector(".meter-fill").style.width = Math.max(4, score * 100) + "%";
    var label = LABELS[level];
    if (state && state.rising && level !== "calm") label += " and rising";
    meter.querySelector(".meter-label").textContent = label;
    var list = meter.querySelector(".reasons");
    list.textContent = "";
    if (state && level !== "calm") {
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
      li.appendChild(el("span", "who", l.speaker === "caller" ? "Caller" : "You"));
      li.appendChild(el("span", "said", l.text));
      list.appendChild(li);
    });
  }

  function addPrompt(call, prompt) {
    if (call.prompts[prompt.id]) return;
    var node = document.getElementById("prompt-template").content.firstElementChild.cloneNode(true);
    node.dataset.promptId = prompt.id;
    node.dataset.kind = prompt.kind;
    node.querySelector(".kind").textContent = KINDS[prompt.kind] || prompt.kind;
    node.querySelector(".text").textContent = prompt.text;
    node.querySelector(".why").textContent = prompt.why || "";
    node.querySelector(".done").addEventListener("click", function () { act(call, prompt.id, "done"); });
    node.querySelector(".dismiss").addEventListener("click", function () { act(call, prompt.id, "dismissed"); });
    call.prompts[prompt.id] = node;
    var list = call.node.querySelector(".prompts");
    var firstActed = list.querySelector(".prompt.acted");
    var firstOpen = list.querySelector(".prompt:not(.acted)");
    list.insertBefore(node, firstOpen || firstActed);  // newest first, above acted cards
    node.classList.add("fresh");
    setTimeout(function () { node.classList.remove("fresh"); }, 1500);
  }

  function markPrompt(call, id, status) {
    var node = call.prompts[id];
    if (!node || node.classList.contains("acted")) return;
    node.classList.add("acted", status);
    node.querySelector(".actions").textContent = status === "done" ? "Done ✓" : "Dismissed";
    node.parentNode.appendChild(node);  // acted cards sink below the open ones
  }

  function act(call, id, action) {
    var url = root.dataset.actUrl.replace("CALL", encodeURIComponent(call.sid))
      .replace("PROMPT", encodeURIComponent(id));
    var node = call.prompts[id];
    node.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ action: action })
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      markPrompt(call, id, action);
    }).catch(function () {
      node.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      node.classList.add("failed");
      node.querySelector(".why").textContent = "Could not save — try again.";
    });
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
      (c.prompts || []).slice().sort(function (a, b) { return a.t - b.t; })
        .forEach(function (p) { addPrompt(call, p); });
    });
    Object.keys(calls).forEach(function (sid) { if (!seen[sid]) endCall(calls[sid]); });
  }

  function on(source, type, handler) {
    source.addEventListener(type, function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      handler(data);
    });
  }

  function connect() {
    var source = new EventSource(root.dataset.eventsUrl);
    source.onopen = function () { connEl.dataset.state = "live"; connEl.textContent = "Live"; };
    source.onerror = function () {
      connEl.dataset.state = "lost";
      connEl.textContent = "Reconnecting…";
    };
    on(source, "snapshot", applySnapshot);
    on(source, "call_started", function (d) { applyInfo(ensureCall(d.call_sid, d), d); });
    on(source, "transcript", function (d) { if (d.text) addLine(ensureCall(d.call_sid), d); });
    on(source, "frustration", function (d) { setLevel(ensureCall(d.call_sid), d); });
    on(source, "prompt", function (d) { addPrompt(ensureCall(d.call_sid), d); });
    on(source, "prompt_update", function (d) {
      if (calls[d.call_sid]) markPrompt(calls[d.call_sid], d.id, d.status);
    });
    on(source, "call_ended", function (d) { if (calls[d.call_sid]) endCall(calls[d.call_sid]); });
  }

  setInterval(function () {
    Object.keys(calls).forEach(function (sid) {
      var call = calls[sid];
      if (!call.ended)
        call.node.querySelector(".elapsed").textContent = formatElapsed(Date.now() - call.started);
    });
  }, 1000);

  updateIdle();
  connect();
})();
