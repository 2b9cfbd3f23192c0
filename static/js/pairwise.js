// The comparison page: a / b / t choose a side or a tie and put the cursor in the reason, Enter
// submits (the form's own behaviour from the reason field), s opens the skip prompt. Keys typed
// into a text field keep their meaning; "?" is app.js's shortcuts dialog.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.querySelector("form.comparison");
    if (!form) return;
    const shownAt = Date.now();
    form.addEventListener("submit", function () {
      form.querySelector("input[name=time_spent_ms]").value = String(Date.now() - shownAt);
    });
    const choices = { a: "a", b: "b", t: "tie" };
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const dialog = document.getElementById("shortcuts");
      if (dialog && dialog.open) return;
      const tag = (event.target.tagName || "").toLowerCase();
      if (tag === "textarea" || tag === "select" || tag === "button" || tag === "a") return;
      if (tag === "input" && event.target.type !== "radio") return;
      if (tag === "summary") return;
      if (choices[event.key]) {
        const radio = form.querySelector("input[name=choice][value=" + choices[event.key] + "]");
        radio.checked = true;
        event.preventDefault();
        form.querySelector("input[name=reason]").focus();
      } else if (event.key === "Enter") {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "s") {
        const details = document.querySelector("details.skip");
        if (!details) return;
        details.open = true;
        details.querySelector("input[name=reason]").focus();
        event.preventDefault();
      }
    });
  });
})();
