// The popup's sign-in is done: tell the panel frame that opened it, then close.
(function () {
  "use strict";
  if (window.opener) {
    window.opener.postMessage("pipewise:signed-in", window.location.origin);
    window.close();
  }
})();
