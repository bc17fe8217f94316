// The console's only script: keep the inbox table live. It polls the console's own
// /api/inbox (same filters as the page) and rebuilds the rows with DOM calls only
// (textContent, never HTML strings). No third-party code; served from /static.
"use strict";
(function () {
  var state = document.getElementById("live-state");
  var body = document.querySelector("#inbox tbody");
  if (!state || !body) { return; }
  var api = state.getAttribute("data-api");
  var known = {};
  Array.prototype.forEach.call(body.querySelectorAll("tr[data-id]"), function (tr) {
    known[tr.getAttribute("data-id")] = true;
  });
  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function row(r) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", r.envelope_id);
    if (r.restricted) { tr.classList.add("restricted"); }
    if (!known[r.envelope_id]) { tr.classList.add("new"); }
    cell(tr, r.received);
    cell(tr, r.sender);
    var a = document.createElement("a");
    a.href = r.href;
    a.textContent = r.case_ref || r.envelope_id;
    cell(tr, "").appendChild(a);
    cell(tr, r.handling);
    var tlp = document.createElement("span");
    tlp.className = "tlp tlp-" + r.tlp_class;
    tlp.textContent = r.tlp;
    cell(tr, "").appendChild(tlp);
    cell(tr, r.evaluation);
    cell(tr, r.summary);
    return tr;
  }
  function refresh() {
    fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (data) {
        var fresh = data.rows.filter(function (r) { return !known[r.envelope_id]; });
        if (fresh.length > 0 || data.rows.length !== body.children.length) {
          while (body.firstChild) { body.removeChild(body.firstChild); }
          data.rows.forEach(function (r) { body.appendChild(row(r)); });
          data.rows.forEach(function (r) { known[r.envelope_id] = true; });
          var empty = document.getElementById("empty");
          if (empty && data.rows.length > 0) { empty.remove(); }
          var count = document.getElementById("inbox-count");
          if (count) { count.textContent = data.rows.length + " shown"; }
        }
        state.textContent = "live: updated " + new Date().toLocaleTimeString();
      })
      .catch(function (err) {
        state.textContent = "live updates paused (" + err.message + ")";
      });
  }
  window.setInterval(refresh, 2000);
})();
