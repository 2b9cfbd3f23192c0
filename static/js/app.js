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

  // The "?" overlay: a modal <dialog>. The browser traps focus in it and closes it on Escape;
  // focus goes back to whatever had it before, so the reviewer carries on where they were.
  let focusBeforeShortcuts = null;
  function openShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog || dialog.open) return;
    focusBeforeShortcuts = document.activeElement;
    dialog.showModal();
  }
  document.addEventListener("close", function (event) {
    if (event.target.id !== "shortcuts") return;
    const back = focusBeforeShortcuts;
    focusBeforeShortcuts = null;
    // The element may have been swapped away meanwhile: then the task's heading takes focus.
    const target = back && back.isConnected && back !== document.body
      ? back : document.querySelector("#review h1[tabindex]");
    if (target) target.focus({ preventScroll: true });
  }, true);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".shortcuts-open")) openShortcuts();
  });

  // "s" opens the skip prompt and puts the cursor in its reason field: Enter there skips,
  // Escape closes the prompt again.
  function openSkip() {
    const details = document.querySelector("details.skip");
    if (!details) return false;
    details.open = true;
    const reason = details.querySelector("input[name=reason]");
    if (reason) reason.focus();
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) return;
    const details = event.target.closest("details.skip");
    if (!details || !details.open) return;
    details.open = false;
    const summary = details.querySelector("summary");
    if (summary) summary.focus();
  });

  // Keyboard: a / c / r choose the outcome, s skips, Enter submits, ? lists the shortcuts.
  // Keys typed into a text field, a select (letters jump to an option there) or onto a button
  // or link keep their own meaning.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;
    const target = event.target;
    const tag = (target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "select" || tag === "button" || tag === "a") return;
    if (tag === "summary" && event.key === "Enter") return;  // opens or closes the prompt
    if (tag === "input" && target.type !== "radio" && target.type !== "checkbox") return;
    if (event.key === "?") {
      if (dialog) { event.preventDefault(); openShortcuts(); }
      return;
    }
    const form = document.querySelector("form.decision");
    if (!form) return;
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.key === "s") {
      if (openSkip()) event.preventDefault();
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
