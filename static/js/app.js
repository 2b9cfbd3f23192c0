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

  // Keyboard: a / c / r choose the outcome, Enter submits. Keys typed into a text field, a
  // select (letters jump to an option there) or onto a button or link keep their own meaning.
  document.addEventListener("keydown", function (event) {
    const form = document.querySelector("form.decision");
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = (target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "select" || tag === "button" || tag === "a") return;
    if (tag === "input" && target.type !== "radio" && target.type !== "checkbox") return;
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    const outcomes = { a: "accept", c: "correct", r: "reject" };
    if (outcomes[event.key]) {
      const radio = form.querySelector("input[name=outcome][value=" + outcomes[event.key] + "]");
      if (radio) { radio.checked = true; syncOutcome(form); event.preventDefault(); }
      if (event.key === "c") { const select = form.querySelector("select[name=label]"); if (select) select.focus(); }
    }
  });

  // After a swap the submit button that had focus is gone: put focus on what needs attention
  // (the first field in error) or on the new task's heading, so the next keystroke works and a
  // screen reader starts reading from the top of the task.
  function focusAfterSwap(root) {
    const invalid = Array.from(root.querySelectorAll("[aria-invalid=true]"))
      .find(function (field) { return field.offsetParent !== null; });
    const heading = root.querySelector("h1[tabindex]");
    const target = invalid || heading;
    if (target) target.focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", function () { prepare(document); });
  // Back/forward can restore a checked outcome after DOMContentLoaded ran: show its section.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.decision").forEach(syncOutcome);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    prepare(event.target);
    if (event.target.id === "review") focusAfterSwap(event.target);
  });
})();
