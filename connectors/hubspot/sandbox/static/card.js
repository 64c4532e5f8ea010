// Opens an app card's IFRAME action in a modal frame, as HubSpot does; closing it blanks the frame.
(function () {
  var dialog = document.getElementById("card-iframe-dialog");
  if (!dialog) { return; }
  var frame = dialog.querySelector("iframe");
  document.querySelectorAll("[data-iframe-uri]").forEach(function (button) {
    button.addEventListener("click", function () {
      frame.src = button.getAttribute("data-iframe-uri");
      frame.style.width = (button.getAttribute("data-width") || "640") + "px";
      frame.style.height = (button.getAttribute("data-height") || "480") + "px";
      dialog.querySelector("[data-dialog-title]").textContent = button.getAttribute("data-label") || "";
      if (dialog.showModal) { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
    });
  });
  dialog.querySelector("[data-dialog-close]").addEventListener("click", function () {
    if (dialog.close) { dialog.close(); } else { dialog.removeAttribute("open"); }
  });
  dialog.addEventListener("close", function () { frame.src = "about:blank"; });
})();
