// Polls the progress endpoint and redraws the per-object table until the run ends.
(function () {
  var url = document.getElementById("progress-script").dataset.url;
  var summary = document.getElementById("summary");
  var body = document.getElementById("streams");

  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }

  function draw(data) {
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
      tr.appendChild(cell(s.done ? "done" : (run.status === "running" ? "syncing…" : run.status)));
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
