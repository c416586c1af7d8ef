// Feedback where the user is looking: toasts at the bottom of the screen, an error line next to
// the composer, and the page's own confirmation dialog (accessible and focus-trapped) for
// destructive actions instead of window.confirm().

import { el } from "./render.js";

const TOAST_MS = 6000;

function toastRegion() {
  let region = document.getElementById("toasts");
  if (!region) {
    region = el("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  return region;
}

// A short message that goes away by itself (errors stay until closed or replaced).
export function toast(text, { kind = "info", ms = TOAST_MS } = {}) {
  const region = toastRegion();
  const close = el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const node = el("div", { class: `toast toast-${kind}`, dir: "auto" }, el("span", {}, text), close);
  close.addEventListener("click", () => node.remove());
  region.append(node);
  while (region.children.length > 3) region.firstChild.remove();
  setTimeout(() => node.remove(), kind === "error" ? ms * 2 : ms);
  return node;
}

// Shows (or with "" clears) the error line right above the composer.
export function composerError(text) {
  const line = document.getElementById("composer-error");
  if (!line) return toast(text, { kind: "error" });
  line.textContent = text;
  line.hidden = !text;
  return line;
}

// The page's own confirmation dialog. Resolves true when confirmed; Escape, Cancel or a click
// outside resolve false. Focus starts on Cancel (the safe choice) and returns where it was.
export function confirmDialog({ title, text = "", confirm = "Delete", danger = true }) {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const cancelButton = el("button", { type: "button", value: "cancel" }, "Cancel");
    const okButton = el("button", { type: "button", class: danger ? "danger" : "primary", value: "ok" }, confirm);
    const titleId = `confirm-title-${Date.now()}`;
    const textId = `${titleId}-text`;
    const dialog = el(
      "dialog",
      { class: "confirm-dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": titleId, "aria-describedby": text ? textId : null },
      el("h2", { id: titleId }, title),
      text ? el("p", { id: textId }, text) : null,
      el("div", { class: "dialog-buttons" }, cancelButton, okButton),
    );
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      if (before && typeof before.focus === "function") before.focus();
      resolve(answer);
    };
    cancelButton.addEventListener("click", () => finish(false));
    okButton.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) finish(false); // the backdrop
    });
    // Tab stays inside the dialog.
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const first = cancelButton;
      const last = okButton;
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}
