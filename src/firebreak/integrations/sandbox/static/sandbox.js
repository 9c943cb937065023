// Sandbox web view: reveal blurred media on click; refresh the message list every 2 s so a viewer watches
// content appear and disappear. Vendored, no CDN: the demo may run offline.
(function () {
  "use strict";
  var revealed = new Set();

  document.addEventListener("click", function (event) {
    var media = event.target.closest && event.target.closest(".media");
    if (!media) return;
    var id = media.getAttribute("data-message");
    if (media.classList.toggle("revealed")) revealed.add(id); else revealed.delete(id);
  });

  function keepRevealed(root) {
    root.querySelectorAll(".media").forEach(function (media) {
      if (revealed.has(media.getAttribute("data-message"))) media.classList.add("revealed");
    });
  }

  function busy(list) {
    var active = document.activeElement;
    return active && list.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("messages");
    if (!list || !list.getAttribute("data-refresh")) return;
    var last = null;
    setInterval(function () {
      if (busy(list)) return;
      fetch(list.getAttribute("data-refresh"), { cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          // Unchanged lists are left alone, so images are not fetched again every 2 s.
          if (html === null || html === last || busy(list)) return;
          last = html;
          list.innerHTML = html;
          keepRevealed(list);
        })
        .catch(function () { /* offline for a moment: try again in 2 s */ });
    }, 2000);
  });
})();
