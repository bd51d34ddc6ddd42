// Console extras from the records: the "due today" badge and, at call start, what the
// caller's number has called about before and any follow-up still open for it.
// Reads the console's call cards (data-call-sid) without touching console.js.
(function () {
  "use strict";
  var extras = document.getElementById("records-extras");
  var calls = document.getElementById("calls");
  if (!extras || !calls) return;
  var historyUrl = extras.dataset.historyUrl;
  var countsUrl = extras.dataset.countsUrl;
  var badge = document.getElementById("due-today");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric" });
  }

  function refreshCounts() {
    fetch(countsUrl, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (c) {
      if (!c || !badge) return;
      badge.querySelector(".n").textContent = String(c.due_today);
      badge.dataset.overdue = String(c.overdue);
      badge.hidden = false;
    }).catch(function () {});
  }

  function showHistory(node, h) {
    if (!h || (!h.previous_calls.length && !h.open_follow_ups.length)) return;
    var box = el("div", "caller-history");
    box.appendChild(el("p", "caller-history-title", "This number called before"));
    var list = el("ul");
    h.open_follow_ups.forEach(function (f) {
      list.appendChild(el("li", "open-promise", "Still open from " + when(f.created_at) + ": " +
        f.what + " (due " + f.due_text + ")"));
    });
    h.previous_calls.forEach(function (c) {
      var bits = [when(c.started_at), (c.topic || "no topic").replace(/_/g, " ")];
      if (c.ended) bits.push(c.ended); else if (c.peak_level) bits.push(c.peak_level);
      list.appendChild(el("li", "", bits.join(" · ")));
    });
    box.appendChild(list);
    var head = node.querySelector(".call-head");
    node.insertBefore(box, head ? head.nextSibling : node.firstChild);
  }

  function lookUp(node) {
    var sid = node.dataset && node.dataset.callSid;
    if (!sid || node.dataset.historyAsked) return;
    node.dataset.historyAsked = "1";
    fetch(historyUrl.replace("CALL", encodeURIComponent(sid)), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (h) { showHistory(node, h); })
      .catch(function () {});
  }

  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      Array.prototype.forEach.call(change.addedNodes, function (n) {
        if (n.nodeType === 1) lookUp(n);
      });
    });
  }).observe(calls, { childList: true });
  Array.prototype.forEach.call(calls.children, lookUp);
  refreshCounts();
  setInterval(refreshCounts, 60000);
})();
