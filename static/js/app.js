// Small progressive enhancements for the review page. Everything works without this file:
// the correct/reject sections are only hidden when JS can show them again.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function syncOutcome(form) {
    const chosen = form.querySelector("input[name=outcome]:checked");
    form.classList.remove("outcome-accept", "outcome-correct", "outcome-reject");
    if (chosen) form.classList.add("outcome-" + chosen.value);
  }

  function prepare(root) {
    root.querySelectorAll("form.decision").forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.dataset.shownAt = String(Date.now());
      syncOutcome(form);
      form.addEventListener("change", function () { syncOutcome(form); });
      form.addEventListener("submit", function () {
        const spent = form.querySelector("input[name=time_spent_ms]");
        if (spent) spent.value = String(Date.now() - Number(form.dataset.shownAt));
      });
      form.addEventListener("htmx:configRequest", function (event) {
        event.detail.parameters.time_spent_ms = String(Date.now() - Number(form.dataset.shownAt));
      });
    });
  }

  // Keyboard: a / c / r choose the outcome, Enter submits (outside text fields).
  document.addEventListener("keydown", function (event) {
    const form = document.querySelector("form.decision");
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "input" && event.target.type === "text") return;
    const outcomes = { a: "accept", c: "correct", r: "reject" };
    if (outcomes[event.key]) {
      const radio = form.querySelector("input[name=outcome][value=" + outcomes[event.key] + "]");
      if (radio) { radio.checked = true; syncOutcome(form); event.preventDefault(); }
      if (event.key === "c") { const select = form.querySelector("select[name=label]"); if (select) select.focus(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () { prepare(document); });
  document.addEventListener("htmx:afterSettle", function (event) { prepare(event.target); });
})();
