// The popup's sign-in is done: hand the panel frame that opened it its panel (or ask it to sign in again), then close.
(function () {
  "use strict";
  var page = document.getElementById("pw-signed-in");
  if (window.opener && page) {
    window.opener.postMessage({pipewise: "signed-in", panel: page.dataset.panel}, window.location.origin);
    window.close();
  }
})();
