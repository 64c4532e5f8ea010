// The frame cannot show the identity provider's sign-in (it refuses to be framed): open it in a popup. When
// the popup is done it hands the frame its panel; a popup closed without a word makes the frame sign in
// silently again.
(function () {
  "use strict";
  var button = document.getElementById("pw-signin");
  if (!button) { return; }
  var restarted = false;
  var restart = function () {
    if (!restarted) { restarted = true; window.location.replace(button.dataset.restart); }
  };
  window.addEventListener("message", function (event) {
    var data = event.data || {};
    if (event.origin !== window.location.origin || data.pipewise !== "signed-in") { return; }
    // Only a panel path of this origin: the popup is ours, but a message is still input.
    if (typeof data.panel === "string" && /^\/embed\/panel\/[^/?#]+\/[^/?#]+\?/.test(data.panel)) {
      restarted = true;
      window.location.replace(data.panel);
    } else {
      restart();
    }
  });
  button.addEventListener("click", function () {
    var popup = window.open(button.dataset.authorize, "pipewise-signin", "popup,width=520,height=680");
    if (!popup) {
      document.getElementById("pw-signin-blocked").hidden = false;
      return;
    }
    var timer = window.setInterval(function () {
      // A little later than "closed", so the popup's message is handled first.
      if (popup.closed) { window.clearInterval(timer); window.setTimeout(restart, 400); }
    }, 500);
  });
})();
