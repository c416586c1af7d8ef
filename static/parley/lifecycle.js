// The data lifecycle in the browser (issue 22): the retention notice of the open conversation
// ("Messages here are deleted after N days"), its retention setting and data download in the
// details panel, and on the settings page the data download and the account deletion.
// (Header comments here avoid the two module keywords: docs/ui.md, "Static files".)
//
// A module of its own with two hooks: app.js dispatches `parley:conversation-opened` on
// `document` ({detail: {id, kind}}, or {detail: null} when none is open) and the templates
// load this file. It builds its own elements; user text only ever becomes text nodes.

import { api } from "./api.js";

const POLL_MS = 1000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function retentionText(days) {
  if (!days) return "";
  return `Messages here are deleted after ${days} ${days === 1 ? "day" : "days"}`;
}

function downloadPath(url) {
  // The server gives an absolute link (for mail); the browser follows it on this origin.
  try {
    const parsed = new URL(url, location.href);
    return parsed.pathname;
  } catch {
    return url;
  }
}

async function followJob(path, onUpdate) {
  for (;;) {
    const job = await api("GET", path);
    onUpdate(job);
    if (job.status === "done" || job.status === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function progressText(job) {
  if (job.status === "failed") return `The export failed: ${job.error}`;
  if (job.status === "done") return "";
  const done = job.progress && job.progress.done;
  return done ? `Exporting… ${done} messages written` : "Exporting…";
}

function exportResult(note, link, job) {
  note.textContent = progressText(job);
  if (job.status === "done" && job.download_url) {
    link.href = downloadPath(job.download_url);
    link.textContent = `Download the export (until ${new Date(job.expires_at).toLocaleString()})`;
    link.hidden = false;
  }
}

// --- the chat page ---------------------------------------------------------------------------

function chatPage() {
  const titles = document.querySelector(".pane-titles");
  const details = document.getElementById("details");
  if (!titles || !details) return;
  const notice = el("p", { id: "retention-notice", class: "subtitle retention-notice", hidden: true });
  titles.append(notice);

  const daysInput = el("input", { id: "retention-days", type: "number", min: "1", max: "36500", placeholder: "server default" });
  const retentionNote = el("p", { id: "retention-note", class: "note", role: "status" });
  const retentionForm = el(
    "form",
    { id: "retention-form", class: "retention-form", hidden: true },
    el("label", { for: "retention-days" }, "Delete messages after (days)"),
    daysInput,
    el("button", { type: "submit" }, "Save retention"),
    retentionNote,
  );
  const exportNote = el("p", { id: "conversation-export-note", class: "note", role: "status" });
  const exportLink = el("a", { id: "conversation-export-link", hidden: true, download: "" });
  const exportButton = el("button", { type: "button", id: "conversation-export" }, "Export conversation");
  const exportBlock = el("div", { id: "conversation-export-block", hidden: true }, exportButton, exportNote, exportLink);
  const section = el("section", { id: "lifecycle-details", "aria-label": "Retention and export" }, retentionForm, exportBlock);
  const leave = document.getElementById("leave-button");
  if (leave) details.insertBefore(section, leave);
  else details.append(section);

  let current = null;

  function show(retention) {
    const text = retentionText(retention.effective_days);
    notice.textContent = retention.legal_hold ? "Messages here are kept (legal hold)" : text;
    notice.hidden = !notice.textContent;
    retentionForm.hidden = !(retention.can_edit && current && current.kind === "group");
    daysInput.value = retention.retention_days || "";
    exportBlock.hidden = !(retention.can_edit && current && current.kind === "group");
  }

  document.addEventListener("parley:conversation-opened", async (event) => {
    current = event.detail;
    notice.hidden = true;
    retentionForm.hidden = true;
    exportBlock.hidden = true;
    exportNote.textContent = "";
    exportLink.hidden = true;
    retentionNote.textContent = "";
    if (!current) return;
    const opened = current;
    try {
      const retention = await api("GET", `/api/conversations/${opened.id}/retention/`);
      if (current === opened) show(retention);
    } catch {
      // No retention to show (the conversation went away): the header stays as it is.
    }
  });

  retentionForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    const raw = daysInput.value.trim();
    const days = raw === "" ? null : Number(raw);
    try {
      const retention = await api("PATCH", `/api/conversations/${current.id}/retention/`, { retention_days: days });
      show(retention);
      retentionNote.textContent = "Saved.";
    } catch (error) {
      retentionNote.textContent = error.message;
    }
  });

  exportButton.addEventListener("click", async () => {
    if (!current) return;
    exportLink.hidden = true;
    exportNote.textContent = "Exporting…";
    try {
      const job = await api("POST", `/api/conversations/${current.id}/export/`);
      await followJob(`/api/exports/${job.id}/`, (update) => exportResult(exportNote, exportLink, update));
    } catch (error) {
      exportNote.textContent = error.message;
    }
  });
}

// --- the settings page -----------------------------------------------------------------------

function settingsPage() {
  const main = document.querySelector("main.settings");
  if (!main) return;
  const exportNote = el("p", { id: "my-export-note", class: "note", role: "status" });
  const exportLink = el("a", { id: "my-export-link", hidden: true, download: "" });
  const exportButton = el("button", { type: "button", id: "my-export" }, "Export my data");
  const password = el("input", { id: "delete-password", type: "password", autocomplete: "current-password" });
  const code = el("input", { id: "delete-code", inputmode: "numeric", autocomplete: "one-time-code" });
  const deleteNote = el("p", { id: "delete-note", class: "note", role: "alert" });
  const deleteForm = el(
    "form",
    { id: "delete-form", class: "settings-form" },
    el("label", { for: "delete-password" }, "Current password"),
    password,
    el("label", { for: "delete-code" }, "or a two-factor code"),
    code,
    el("button", { type: "submit", class: "danger", id: "delete-account" }, "Delete my account"),
    deleteNote,
  );
  main.append(
    el(
      "section",
      { "aria-labelledby": "data-title", id: "data-section" },
      el("h3", { id: "data-title" }, "Your data"),
      el("p", { class: "hint" }, "A zip of your profile, conversations, messages, reactions, files and settings, with a page to read it. The link works for 7 days; it is also mailed to you."),
      exportButton,
      exportNote,
      exportLink,
      el("h4", {}, "Delete account"),
      el("p", { class: "hint" }, "Your account stops working at once and is then anonymised: your profile, address, picture and sessions are removed; what you wrote is shown as from “Deleted user” (or deleted, if this server is set to). This cannot be undone."),
      deleteForm,
    ),
  );

  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    exportLink.hidden = true;
    exportNote.textContent = "Exporting…";
    try {
      const job = await api("POST", "/api/me/export/");
      await followJob(`/api/me/export/${job.id}/`, (update) => exportResult(exportNote, exportLink, update));
    } catch (error) {
      exportNote.textContent = error.message;
    } finally {
      exportButton.disabled = false;
    }
  });

  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    deleteNote.textContent = "";
    if (!window.confirm("Delete your account for good?")) return;
    try {
      await api("DELETE", "/api/me/", { password: password.value, code: code.value.trim() });
    } catch (error) {
      deleteNote.textContent = error.message;
      return;
    }
    document.body.replaceChildren(
      el("main", { class: "settings", id: "account-deleted" }, el("h2", {}, "Your account was deleted"), el("p", {}, "It no longer works anywhere. Goodbye!"), el("a", { href: "/login/" }, "Back to the login page")),
    );
  });
}

chatPage();
settingsPage();
