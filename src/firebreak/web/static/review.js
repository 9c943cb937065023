// Keyboard shortcuts for the review queue and its items. Every page works without them.
//   [data-key="x"]   pressing x clicks the element; a radio button is chosen instead, and the Decide button
//                    takes the focus, so Enter then decides
//   j / k            the queue: next / previous item;  Enter opens it (the link has the focus)
//   /                the queue: the first filter
// Keys are ignored while typing in a field, and with Ctrl, Alt or Meta held.
(function () {
  "use strict";

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) &&
        !(target instanceof HTMLInputElement && (target.type === "radio" || target.type === "checkbox")));
  }

  function move(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("a.queue-link"));
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = links[Math.min(links.length - 1, Math.max(0, at + step))] || links[0];
    next.focus();
    var row = next.closest("tr");
    links.forEach(function (l) { var r = l.closest("tr"); if (r) r.classList.remove("is-current"); });
    if (row) row.classList.add("is-current");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
    var key = event.key;
    if (key === "j" || key === "k") { move(key === "j" ? 1 : -1); event.preventDefault(); return; }
    if (key === "/") {
      var filter = document.querySelector(".filters select");
      if (filter) { filter.focus(); event.preventDefault(); }
      return;
    }
    var target = document.querySelector('[data-key="' + (key.length === 1 ? key.replace(/["\\]/g, "") : "") + '"]');
    if (!target || target.disabled) return;
    event.preventDefault();
    if (target instanceof HTMLInputElement && target.type === "radio") {
      target.checked = true;
      target.dispatchEvent(new Event("change", { bubbles: true }));
      var submit = document.getElementById("decide-submit");
      if (submit) submit.focus();
      return;
    }
    target.click();
  });
  // The keys work from here on (browser tests wait for this before pressing them).
  document.documentElement.setAttribute("data-keys", "on");
})();
