// Polls the progress endpoint and redraws the per-object table until the run ends.
(function () {
  var url = document.getElementById("progress-script").dataset.url;
  var summary = document.getElementById("summary");
  var body = document.getElementById("streams");

  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }

  function drawCheck(check) {
    var section = document.getElementById("check");
    if (!check || !section) { return; }
    section.hidden = false;
    document.getElementById("check-summary").textContent = check.summary;
    var list = document.getElementById("check-findings");
    list.replaceChildren();
    check.findings.forEach(function (f) {
      if (f.status === "ok") { return; }
      var li = document.createElement("li");
      li.dataset.status = f.status;
      li.dataset.check = f.check;
      li.textContent = (f.status === "error" ? "Fix: " : "Note: ") + f.message;
      list.appendChild(li);
    });
  }

  function draw(data) {
    drawCheck(data.check);
    var run = data.run;
    if (!run) { return false; }
    var names = Object.keys(run.streams || {});
    body.replaceChildren();
    names.forEach(function (name) {
      var s = run.streams[name];
      var tr = document.createElement("tr");
      tr.dataset.stream = name;
      tr.appendChild(cell(name.replace(/_/g, " ")));
      tr.appendChild(cell(String(s.seen || 0) + (s.total ? " of " + s.total : "")));
      tr.appendChild(cell(String(s.changed || 0)));
      tr.appendChild(cell(s.skipped ? "skipped: " + s.note : s.done ? "done" : (run.status === "running" ? "syncing…" : run.status)));
      body.appendChild(tr);
    });
    var done = run.status !== "running";
    if (run.status === "completed") {
      summary.textContent = "Sync complete: " + run.seen + " records read, " + run.changed + " stored or updated, in " + run.seconds + " s.";
    } else if (done) {
      summary.textContent = "Sync " + run.status + ". " + (data.connection.reason || "");
    } else {
      summary.textContent = "Syncing… " + run.seen + " records read so far.";
    }
    summary.dataset.state = run.status;
    return done;
  }

  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      if (!draw(data)) { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
