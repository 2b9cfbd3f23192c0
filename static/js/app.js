// Small progressive enhancements for the review page. Everything works without this file:
// the correct/reject sections are only hidden when JS can show them again.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function syncOutcome(form) {
    const chosen = form.querySelector("input[name=outcome]:checked");
    form.classList.remove("outcome-accept", "outcome-correct", "outcome-reject");
    if (chosen) form.classList.add("outcome-" + chosen.value);
    // Reasons of the other outcomes are not sent (the server drops them too): an accept never
    // carries a reason ticked while Correct was chosen. Their ticks stay for a way back.
    const outcome = chosen ? chosen.value : "";
    form.querySelectorAll(".when-correct .reasons input[type=checkbox]").forEach(function (box) {
      box.disabled = outcome !== "correct";
    });
    form.querySelectorAll(".when-reject .reasons input[type=checkbox]").forEach(function (box) {
      box.disabled = outcome !== "reject";
    });
  }

  // Number keys 1-9 pick the label (the first choice field): Accept when it is the model's
  // label, Correct otherwise.
  function pickLabel(form, number) {
    const select = form.querySelector("select[data-label-keys]");
    if (!select) return false;
    const options = Array.from(select.options).filter(function (option) { return option.value; });
    const option = options[number - 1];
    if (!option) return false;
    select.value = option.value;
    const outcome = option.value === select.dataset.modelValue ? "accept" : "correct";
    const radio = form.querySelector("input[name=outcome][value=" + outcome + "]");
    if (radio) radio.checked = true;
    syncOutcome(form);
    select.dispatchEvent(new Event("change", { bubbles: true }));  // the changes panel follows
    return true;
  }

  // --- The reason picker: type to filter, arrows to move, Enter in the filter ticks the first
  // match. The filter is out of the Tab order (Tab goes from the fields to the reasons); "/"
  // and a click reach it.
  function reasonItems(picker) {
    return Array.from(picker.querySelectorAll("li.reason"));
  }
  function visibleReasonBoxes(picker) {
    return reasonItems(picker).filter(function (li) { return !li.hidden; })
      .map(function (li) { return li.querySelector("input[type=checkbox]"); });
  }
  function filterReasons(picker) {
    const filter = picker.querySelector(".reason-filter");
    const words = filter.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    const items = reasonItems(picker);
    items.forEach(function (li) {
      const haystack = (li.dataset.search || "").toLocaleLowerCase();
      const box = li.querySelector("input[type=checkbox]");
      // A ticked reason stays in sight: hiding it would hide part of what gets submitted.
      li.hidden = !(box.checked || words.every(function (word) { return haystack.includes(word); }));
      if (!li.hidden) shown += 1;
    });
    const count = picker.querySelector("[id^=reason-count]");
    if (count) count.textContent = words.length ? shown + " of " + items.length + " reasons" : "";
  }
  function preparePicker(picker) {
    if (picker.dataset.ready) return;
    picker.dataset.ready = "1";
    const filter = picker.querySelector(".reason-filter");
    if (!filter) return;
    filter.addEventListener("input", function () { filterReasons(picker); });
    filter.addEventListener("keydown", function (event) {
      const boxes = visibleReasonBoxes(picker);
      if (event.key === "Enter") {
        event.preventDefault();  // never submits the decision from the filter
        const first = boxes.find(function (box) {
          const words = filter.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
          const haystack = (box.closest("li").dataset.search || "").toLocaleLowerCase();
          return words.every(function (word) { return haystack.includes(word); });
        });
        if (first) {
          first.checked = true;
          first.dispatchEvent(new Event("change", { bubbles: true }));
          first.focus();
        }
      } else if (event.key === "ArrowDown" && boxes.length) {
        event.preventDefault();
        boxes[0].focus();
      } else if (event.key === "Escape" && filter.value) {
        event.preventDefault();
        event.stopPropagation();
        filter.value = "";
        filterReasons(picker);
      }
    });
    picker.addEventListener("keydown", function (event) {
      if (event.target.type !== "checkbox") return;
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      const boxes = visibleReasonBoxes(picker);
      const at = boxes.indexOf(event.target);
      const next = event.key === "ArrowDown" ? boxes[at + 1] : (at > 0 ? boxes[at - 1] : filter);
      if (next) { event.preventDefault(); next.focus(); }
    });
  }
  function focusReasonFilter(form) {
    const chosen = form.querySelector("input[name=outcome]:checked");
    const section = chosen && form.querySelector(chosen.value === "reject" ? ".when-reject" : ".when-correct");
    const filter = chosen && chosen.value !== "accept" && section && section.querySelector(".reason-filter");
    if (!filter) return false;
    filter.focus();
    filter.select();
    return true;
  }

  // --- Span fields: select text in the shown input (or type it into "Text to mark"), pick a
  // label, "Add span" fills the empty row; rows stay editable by hand. The marks in the text
  // follow the rows. Offsets count characters of the text as shown (its textContent).
  function spanRows(widget) {
    return Array.from(widget.querySelectorAll("tr.span-row"));
  }
  function rowValues(row) {
    return {
      start: row.querySelector("input[name$='.start']"),
      end: row.querySelector("input[name$='.end']"),
      label: row.querySelector("select[name$='.label']"),
    };
  }
  function renderSpans(widget) {
    const source = widget.querySelector("[data-span-source]");
    const text = widget.dataset.sourceText;
    const spans = [];
    spanRows(widget).forEach(function (row) {
      const v = rowValues(row);
      const start = parseInt(v.start.value, 10);
      const end = parseInt(v.end.value, 10);
      const ok = v.label.value && start >= 0 && end > start && end <= text.length;
      row.querySelector(".span-text").textContent = ok ? text.slice(start, end) : "";
      if (ok) spans.push({ start: start, end: end, label: v.label.value });
    });
    spans.sort(function (a, b) { return a.start - b.start || a.end - b.end; });
    source.textContent = "";
    let cursor = 0;
    spans.forEach(function (span) {
      if (span.start < cursor) return;  // overlapping: listed in the rows, not marked
      source.appendChild(document.createTextNode(text.slice(cursor, span.start)));
      const mark = document.createElement("mark");
      mark.dataset.label = span.label;
      mark.textContent = text.slice(span.start, span.end);
      source.appendChild(mark);
      cursor = span.end;
    });
    source.appendChild(document.createTextNode(text.slice(cursor)));
  }
  function spansChanged(widget) {
    renderSpans(widget);
    widget.dispatchEvent(new CustomEvent("spans-changed", { bubbles: true }));
  }
  function selectionIn(source) {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    if (!source.contains(range.startContainer) || !source.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.selectNodeContents(source);
    before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    return { start: start, end: start + range.toString().length };
  }
  let spanRowSerial = 0;
  function blankRow(widget) {
    const rows = spanRows(widget);
    const last = rows[rows.length - 1];
    const v = rowValues(last);
    if (!v.start.value && !v.end.value && !v.label.value) return last;
    spanRowSerial += 1;
    const copy = last.cloneNode(true);
    copy.querySelectorAll("input, select").forEach(function (control) {
      control.value = "";
      const id = control.id.replace(/-[^-]+$/, "-n" + spanRowSerial);
      const label = copy.querySelector("label[for='" + control.id + "']");
      control.id = id;
      if (label) { label.htmlFor = id; label.textContent = label.textContent.replace(/\S+$/, "(new)"); }
    });
    copy.querySelector(".span-text").textContent = "";
    last.parentNode.appendChild(copy);
    return copy;
  }
  function prepareSpans(widget) {
    if (widget.dataset.ready) return;
    widget.dataset.ready = "1";
    const source = widget.querySelector("[data-span-source]");
    widget.dataset.sourceText = source.textContent;
    const phrase = widget.querySelector(".span-phrase");
    const label = widget.querySelector(".span-new-label");
    const problem = widget.querySelector(".span-add-error");
    let picked = null;
    document.addEventListener("selectionchange", function () {
      if (!widget.isConnected) return;
      const found = selectionIn(source);
      if (!found) return;
      picked = found;
      phrase.value = widget.dataset.sourceText.slice(found.start, found.end);
    });
    phrase.addEventListener("input", function () { picked = null; });
    phrase.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); widget.querySelector(".span-add-button").click(); }
    });
    widget.addEventListener("click", function (event) {
      const text = widget.dataset.sourceText;
      if (event.target.closest(".span-add-button")) {
        problem.hidden = true;
        let where = picked;
        if (!where && phrase.value) {
          // Typed, not selected: the first place it occurs that is not marked already.
          const taken = spanRows(widget).map(function (row) { return rowValues(row).start.value + ":" + rowValues(row).end.value; });
          let at = text.indexOf(phrase.value);
          while (at !== -1 && taken.includes(at + ":" + (at + phrase.value.length))) {
            at = text.indexOf(phrase.value, at + 1);
          }
          if (at !== -1) where = { start: at, end: at + phrase.value.length };
        }
        if (!where) {
          problem.textContent = phrase.value ? "That text does not occur (unmarked) in the input." : "Select or type the text to mark first.";
          problem.hidden = false;
          phrase.focus();
          return;
        }
        const row = blankRow(widget);
        const v = rowValues(row);
        v.start.value = String(where.start);
        v.end.value = String(where.end);
        v.label.value = label.value;
        blankRow(widget);
        picked = null;
        phrase.value = "";
        spansChanged(widget);
        phrase.focus();
      } else if (event.target.closest(".span-remove")) {
        const row = event.target.closest("tr.span-row");
        const rows = spanRows(widget);
        if (rows.length > 1) row.remove();
        else Object.values(rowValues(row)).forEach(function (control) { control.value = ""; });
        blankRow(widget);
        spansChanged(widget);
        phrase.focus();
      }
    });
    widget.addEventListener("input", function (event) {
      if (event.target.closest("tr.span-row")) renderSpans(widget);
    });
    renderSpans(widget);
  }

  // The minimum dwell: a submit sooner than this after the task appeared is ignored, with a
  // hint, so a double Enter cannot decide the next task unseen. Checked in the capture phase,
  // before htmx's own submit listener on the form sees the event.
  function minDwell(form) {
    return Number(form.dataset.minDwellMs || 0);
  }
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("form.decision")) return;
    if (Date.now() - Number(form.dataset.shownAt || 0) >= minDwell(form)) return;
    event.preventDefault();
    event.stopPropagation();
    const hint = form.querySelector(".dwell-hint");
    if (hint) hint.hidden = false;
  }, true);

  function prepare(root) {
    root.querySelectorAll("[data-reason-picker]").forEach(preparePicker);
    root.querySelectorAll(".output-field.kind-spans").forEach(prepareSpans);
    root.querySelectorAll("form.decision").forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.dataset.shownAt = String(Date.now());
      // Tests and styles can tell when Enter starts to count.
      window.setTimeout(function () { form.dataset.dwellOver = "1"; }, minDwell(form));
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

  // Where Enter submits the decision: anywhere in its form (a select, a text box without
  // Shift, a checkbox) and on the page around it, the history's disclosure included. Buttons
  // and links keep Enter, and so do the other forms (the skip prompt) and their summaries.
  function enterSubmits(target, form) {
    const tag = (target.tagName || "").toLowerCase();
    if (form.contains(target)) {
      if (tag === "a") return false;
      return !(tag === "button" && target.type !== "submit");
    }
    if (tag === "summary") return Boolean(target.closest("details.history"));
    if (target.closest("form") || target.closest("dialog")) return false;
    return !["input", "textarea", "select", "button", "a"].includes(tag);
  }

  // Keyboard: a / c / r choose the outcome, 1-9 pick a label, s skips, / finds a reason, Enter
  // submits, u undoes the decision just made, ? lists the shortcuts.
  // Other keys typed into a text field, a select (letters jump to an option there) or onto a
  // button or link keep their own meaning.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;
    const target = event.target;
    const tag = (target.tagName || "").toLowerCase();
    const decision = document.querySelector("form.decision");
    // Handled already (the reason filter ticks a reason, the span phrase adds a span).
    if (event.defaultPrevented) return;
    if (decision && event.key === "Enter" && !event.shiftKey && enterSubmits(target, decision)) {
      event.preventDefault();
      decision.requestSubmit();
      return;
    }
    const typing = tag === "textarea" || (tag === "input" && target.type !== "radio" && target.type !== "checkbox");
    if (decision && /^[1-9]$/.test(event.key) && !typing
        && (tag !== "select" || target.matches("[data-label-keys]"))
        && (decision.contains(target) || !["button", "a", "select"].includes(tag))) {
      if (pickLabel(decision, Number(event.key))) event.preventDefault();
      return;
    }
    // "/" from a select is safe (letters pick options there; "/" starts none): fields -> reasons.
    if (event.key === "/" && tag === "select" && target.closest("form.decision")) {
      if (focusReasonFilter(target.closest("form.decision"))) event.preventDefault();
      return;
    }
    if (tag === "textarea" || tag === "select" || tag === "button" || tag === "a") return;
    if (tag === "summary" && event.key === "Enter") return;  // opens or closes the prompt
    if (tag === "input" && target.type !== "radio" && target.type !== "checkbox") return;
    if (event.key === "?") {
      if (dialog) { event.preventDefault(); openShortcuts(); }
      return;
    }
    if (event.key === "u") {
      const undo = document.querySelector("form.undo");
      if (undo) { event.preventDefault(); undo.requestSubmit(); }
      return;
    }
    const form = decision;
    if (!form) return;
    if (event.key === "s") {
      if (openSkip()) event.preventDefault();
      return;
    }
    if (event.key === "/") {
      if (focusReasonFilter(form)) event.preventDefault();
      return;
    }
    const outcomes = { a: "accept", c: "correct", r: "reject" };
    if (outcomes[event.key]) {
      const radio = form.querySelector("input[name=outcome][value=" + outcomes[event.key] + "]");
      if (radio) { radio.checked = true; syncOutcome(form); event.preventDefault(); }
      if (event.key === "c") {
        // Straight into the correction: the first field the model was unsure of, else the first.
        const control = form.querySelector(".output-field.low select, .output-field.low input, .output-field.low textarea")
          || form.querySelector(".output-field select, .output-field input, .output-field textarea");
        if (control) control.focus();
      }
    }
  });

  // After a swap the submit button that had focus is gone: put focus on what needs attention
  // (the first field in error) or on the new task's heading, so the next keystroke works and a
  // screen reader starts reading from the top of the task.
  function visible(element) { return element.offsetParent !== null; }
  // The first problem on screen, focused (a field) and scrolled into the middle of the window:
  // a swap shown from its top, or a long settings page, would leave it below the fold.
  function showFirstProblem(root) {
    const invalid = Array.from(root.querySelectorAll("[aria-invalid=true]")).find(visible);
    const message = Array.from(root.querySelectorAll(".error[role=alert], .field-error")).find(visible);
    // A field made of several controls (labels, spans) is flagged on its fieldset.
    const control = invalid && invalid.tagName === "FIELDSET"
      ? invalid.querySelector("input:not([type=hidden]), select, textarea") : invalid;
    if (control) control.focus({ preventScroll: true });
    const shown = message || control;
    if (shown) shown.scrollIntoView({ block: "center" });
    return Boolean(control);
  }
  function focusAfterSwap(root) {
    if (showFirstProblem(root)) return;
    const heading = root.querySelector("h1[tabindex]");
    if (heading) heading.focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    prepare(document);
    showFirstProblem(document);
  });
  // Back/forward can restore a checked outcome after DOMContentLoaded ran: show its section.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.decision").forEach(syncOutcome);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    prepare(event.target);
    if (event.target.id === "review") focusAfterSwap(event.target);
  });
})();
