// View: the composer (#composer): sending, editing (with the refused-edit path), slash
// commands, the length counter, drafts, the typing signal, and which conversations may be
// written to (announcements: staff only).

import { setUpAttachments } from "./attachments.js";
import { composerError } from "./feedback.js";
import { isCommand } from "./integrations.js";
import { isMine, tooLong } from "./store.js";

const $ = (id) => document.getElementById(id);
const COUNTER_FROM = 0.875; // the counter shows from this share of the limit on
const TYPING_SEND_EVERY_MS = 2000;

function newRef() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ctx: {store, send(frame), integrations (integrations.js: slash commands),
//       actions: {sendMessage, saveDraft, scrollToBottom}}
export function createComposer(ctx) {
  const { store } = ctx;
  const { runCommand, suggestCommands } = ctx.integrations;
  const form = $("composer");
  const input = $("composer-input");
  const files = setUpAttachments({ form, input, dropZone: $("pane") });

  // Instead of a silent maxlength: the count near the limit, and a clear "over by N".
  function updateCounter() {
    const counter = $("composer-count");
    const length = [...input.value].length;
    const limit = store.features.max_body_chars;
    counter.hidden = length < limit * COUNTER_FROM;
    counter.textContent = length > limit ? `${length - limit} characters over the limit of ${limit}` : `${length} / ${limit}`;
    counter.classList.toggle("over", length > limit);
    $("send-button").setAttribute("aria-disabled", length > limit ? "true" : "false");
  }

  function autoSize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }

  function startEditing(conv, message, text = message.body) {
    if (!store.features.edit) return;
    store.editing = { conv, message };
    $("composer-mode").hidden = false;
    $("composer-mode-text").textContent = "Editing a message (Escape cancels)";
    input.value = text;
    updateCounter();
    input.focus();
  }

  function stopEditing() {
    if (!store.editing) return;
    store.editing = null;
    $("composer-mode").hidden = true;
    input.value = store.current ? store.current.draft : "";
    composerError("");
    updateCounter();
  }

  function sendTyping() {
    const conv = store.current;
    if (!conv || !store.features.typing || conv.kind === "announcement") return;
    const now = Date.now();
    if (now - store.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    if (ctx.send({ type: "typing", conversation: conv.id })) store.lastTypingSent = now;
  }

  function submitEdit(text) {
    const { conv, message } = store.editing;
    // The edit's ref: a refusal (window passed, say) comes back with it, and the text goes
    // back into the composer instead of being lost.
    const ref = newRef();
    if (ctx.send({ type: "edit", conversation: conv.id, id: message.id, body: text, client_msg_id: ref })) {
      store.editsInFlight.set(ref, { conv, message, text });
      stopEditing();
      input.value = "";
      updateCounter();
    } else {
      composerError("Not connected: the edit was not sent. It is still here; try again when the connection is back.");
    }
  }

  function submit() {
    const conv = store.current;
    const text = input.value;
    if (!conv || (!text.trim() && (store.editing || !files.ready()))) return;
    if (tooLong(store, text)) {
      composerError(`The message is too long: at most ${store.features.max_body_chars} characters.`);
      return;
    }
    if (store.editing) {
      submitEdit(text);
      return;
    }
    if (isCommand(text)) {
      if (!runCommand({ send: ctx.send }, conv, text)) {
        composerError("Not connected: the command was not sent.");
        return;
      }
    } else ctx.actions.sendMessage(conv, text, files.take());
    input.value = "";
    ctx.actions.saveDraft(conv, "");
    composerError("");
    updateCounter();
    autoSize();
    ctx.actions.scrollToBottom();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    const conv = store.current;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && store.editing) {
      event.preventDefault();
      stopEditing();
    } else if (event.key === "ArrowUp" && !input.value && conv && store.features.edit) {
      const own = [...conv.messages.values()].filter((m) => isMine(store, m) && !m.deleted).sort((a, b) => b.seq - a.seq);
      if (own.length) {
        event.preventDefault();
        startEditing(conv, own[0]);
      }
    }
  });
  input.addEventListener("input", () => {
    autoSize();
    updateCounter();
    if (!store.editing && store.current) ctx.actions.saveDraft(store.current, input.value);
    suggestCommands(store.current, input);
    if (input.value && !store.editing) sendTyping();
  });
  $("composer-cancel").addEventListener("click", () => {
    stopEditing();
    input.focus();
  });

  // A conversation was opened (or none): its draft, and whether it may be written to (true
  // when it may).
  function show(conv) {
    const readOnly = Boolean(conv) && conv.kind === "announcement" && !store.me.isStaff;
    form.hidden = !conv || readOnly;
    $("readonly-note").hidden = !readOnly;
    if (!conv) return false;
    input.value = conv.draft;
    updateCounter();
    return !readOnly;
  }

  return {
    show,
    startEditing,
    stopEditing,
    updateCounter,
    // What is in the composer right now, unless it is an edit (drafts are not edits).
    draftText: () => (store.editing ? null : input.value),
    focus: () => input.focus(),
  };
}
