// Firebreak's small progressive enhancement. Every page works without it.
//   form[data-confirm="question"]  ask before submitting
//   form[data-once]                disable the submit buttons once sent (no double submits)
//   [data-refresh-url][data-refresh-seconds]  reload this element's HTML from the URL while the tab is visible
//   Escape                         blur every revealed sensitive image again
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-once")) {
      // After this turn, so the clicked button's own name=value is still sent.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll(".fb-blur__toggle:checked").forEach(function (box) { box.checked = false; });
  });

  function refresh(element) {
    var url = element.getAttribute("data-refresh-url");
    var seconds = Math.max(2, parseInt(element.getAttribute("data-refresh-seconds"), 10) || 10);
    window.setTimeout(function tick() {
      if (document.hidden) { window.setTimeout(tick, seconds * 1000); return; }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          // The fragment is server-rendered (escaped by the templates); keep the reader's revealed state out of it.
          if (html !== null && !element.contains(document.activeElement)) element.innerHTML = html;
        })
        .catch(function () { /* offline for a moment: try again next tick */ })
        .finally(function () { window.setTimeout(tick, seconds * 1000); });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-url]").forEach(refresh);
  });
})();
