// The frame cannot show the identity provider's sign-in (it refuses to be framed): open it in a popup,
// then sign in again silently in the frame once the popup says it is done or is closed.
(function () {
  "use strict";
  var button = document.getElementById("pw-signin");
  if (!button) { return; }
  var restarted = false;
  var restart = function () {
    if (!restarted) { restarted = true; window.location.replace(button.dataset.restart); }
  };
  window.addEventListener("message", function (event) {
    if (event.origin === window.location.origin && event.data === "pipewise:signed-in") { restart(); }
  });
  button.addEventListener("click", function () {
    var popup = window.open(button.dataset.authorize, "pipewise-signin", "popup,width=520,height=680");
    if (!popup) {
      document.getElementById("pw-signin-blocked").hidden = false;
      return;
    }
    var timer = window.setInterval(function () {
      if (popup.closed) { window.clearInterval(timer); restart(); }
    }, 500);
  });
})();
