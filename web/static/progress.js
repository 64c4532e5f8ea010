// Polls the progress endpoint and redraws the timeline (and, on the progress page, the per-object
// table) until the connection's first scores are ready or a step failed.
(function () {
  var url = document.getElementById("progress-script").dataset.url;
  var summary = document.getElementById("summary");
  var body = document.getElementById("streams");
  var heading = document.getElementById("heading");
  var STATES = {waiting: "Waiting", queued: "Queued", running: "In progress", done: "Done", failed: "Failed",
                skipped: "Skipped"};
  var OBJECTS = {lead: "lead", opportunity: "deal"};

  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
  function n(value) { return Number(value || 0).toLocaleString("en-US"); }
  function left(seconds) {
    if (seconds === null || seconds === undefined) { return ""; }
    return seconds < 60 ? " · under a minute left" : " · about " + Math.round(seconds / 60) + " min left";
  }
  function counted(step, what) {
    if (!step.total) { return n(step.done) + " " + what; }
    return n(Math.min(step.done || 0, step.total)) + " of " + n(step.total) + " " + what + " (" + step.percent + "%)" +
      left(step.eta_seconds);
  }

  function detail(step) {
    var s = step.state;
    if (step.note && (s === "failed" || s === "skipped")) { return step.note; }
    switch (step.name) {
      case "sync":
        if (s === "running" && step.total) { return counted(step, "records read"); }
        if (s === "running") {
          return n(step.done) + " records read; " + step.objects_done + " of " + step.objects + " objects done (" +
            step.percent + "%)" + left(step.eta_seconds);
        }
        if (s === "done") { return n(step.done) + " records read, " + n(step.changed) + " stored or updated in " + step.seconds + " s."; }
        if (s === "failed") { return "The sync " + step.status + "."; }
        return "Starts after the connection check.";
      case "training":
        if (s === "running") { return "Training the " + (OBJECTS[step.current] || step.current) + " model; " + n(step.done) + " of 2 trained."; }
        if (s === "done") { return step.done ? n(step.done) + " models trained." : "The organization's models were already trained."; }
        return "Starts when the sync is done.";
      case "scoring":
        if (s === "running" || s === "done") { return counted(step, "records scored"); }
        return "Starts when the models are trained.";
      case "writeback":
        if (s === "done") { return n(step.done) + " values written to the CRM" + (step.rejected ? ", " + n(step.rejected) + " refused (see the writeback log)." : "."); }
        if (s === "running") { return "Writing scores, bands, reasons and next steps to the CRM's fields…"; }
        return "Starts when the records are scored.";
      default:
        return s === "done" ? n(step.scored) + " leads and deals have a score." : "";
    }
  }

  function drawTimeline(timeline) {
    var list = document.getElementById("timeline");
    if (!timeline || !list) { return false; }
    list.dataset.current = timeline.current;
    timeline.steps.forEach(function (step) {
      var li = list.querySelector('li[data-step="' + step.name + '"]');
      if (!li) { return; }
      li.dataset.state = step.state;
      li.querySelector(".step-state").textContent = STATES[step.state] || step.state;
      var bar = li.querySelector("progress");
      bar.hidden = step.percent === null || step.percent === undefined || step.state === "waiting";
      bar.value = step.percent || 0;
      var where = li.querySelector(".step-detail");
      where.textContent = detail(step);
      if (step.name === "ready" && step.record && step.record.url) {
        var a = document.createElement("a");
        a.href = step.record.url;
        a.id = "scored-record";
        a.textContent = "Open a scored " + (OBJECTS[step.record.object_type] || step.record.object_type) +
          " (score " + step.record.score + ") in the CRM";
        where.append(" ", a);
      }
    });
    document.getElementById("timeline-summary").textContent = timeline.heading;
    if (heading) { heading.textContent = timeline.heading; }
    var failed = timeline.steps.some(function (s) { return s.state === "failed"; });
    return timeline.current === "ready" && timeline.steps[4].state === "done" || failed;
  }

  function drawCheck(check) {
    var section = document.getElementById("check");
    if (!check || !section || !document.getElementById("check-findings")) { return; }
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

  function drawRun(data) {
    var run = data.run;
    if (!run || !body) { return; }
    body.replaceChildren();
    Object.keys(run.streams || {}).forEach(function (name) {
      var s = run.streams[name];
      var tr = document.createElement("tr");
      tr.dataset.stream = name;
      tr.appendChild(cell(name.replace(/_/g, " ")));
      var total = s.total ? Math.max(s.total, s.done ? s.seen : 0) : 0;
      tr.appendChild(cell(n(total ? Math.min(s.seen || 0, total) : s.seen) + (total ? " of " + n(total) : "")));
      tr.appendChild(cell(n(s.changed)));
      tr.appendChild(cell(s.skipped ? "skipped: " + s.note : s.done ? "done" : (run.status === "running" ? "syncing…" : run.status)));
      body.appendChild(tr);
    });
    if (run.status === "completed") {
      summary.textContent = "Sync complete: " + n(run.seen) + " records read, " + n(run.changed) + " stored or updated, in " + run.seconds + " s.";
    } else if (run.status !== "running") {
      summary.textContent = "Sync " + run.status + ". " + (data.connection.reason || "");
    } else {
      summary.textContent = "Syncing… " + n(run.seen) + " records read so far.";
    }
    summary.dataset.state = run.status;
  }

  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      drawCheck(data.check);
      drawRun(data);
      if (!drawTimeline(data.timeline)) { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
