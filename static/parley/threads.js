// Replies and threads: the "Reply" action, the quoted parent above a reply (click scrolls to
// it), the "N replies" button under a root, and the thread side store.thread with its own composer.
// User text only ever becomes text nodes (or the server-sanitized `html`, via markup.js).

import { api } from "./api.js";
import { el, timeOf } from "./render.js";

const $ = (id) => document.getElementById(id);

// hooks: {store, send(conv, text, replyTo), body(message)}. State lives in the store:
// `store.replying` ({conv, message}: the composer's next message answers it) and
// `store.thread` ({conv, rootId, root, messages: Map(id -> message)}: the open thread store.thread).
// Returns the row builders and the frame hook the chat page uses.
export function createThreads(hooks) {
  const { store } = hooks;
  const bar = el(
    "p",
    { id: "reply-bar", class: "composer-mode reply-bar", hidden: true },
    el("span", { id: "reply-bar-text" }),
    " ",
    el("button", { type: "button", id: "reply-cancel", onclick: () => cancelReply() }, "Cancel"),
  );
  $("composer").prepend(bar);
  const aside = el(
    "aside",
    { id: "thread-panel", class: "details thread-panel", "aria-labelledby": "thread-title", hidden: true },
    el(
      "header",
      { class: "details-head" },
      el("h2", { id: "thread-title" }, "Thread"),
      el("button", { type: "button", "aria-label": "Close thread", onclick: () => closeThread() }, "×"),
    ),
    el("ol", { id: "thread-messages", class: "messages thread-messages", role: "log", "aria-label": "Thread messages" }),
    el(
      "form",
      { id: "thread-composer", class: "composer" },
      el("label", { for: "thread-input", class: "sr-only" }, "Reply in thread"),
      el("textarea", { id: "thread-input", rows: 1, maxlength: 4000, placeholder: "Reply in thread" }),
      el("button", { type: "submit" }, "Reply"),
    ),
  );
  document.querySelector(".layout").append(aside);
  const input = $("thread-input");
  const submit = () => {
    if (!store.thread || !input.value.trim()) return;
    hooks.send(store.thread.conv, input.value, store.thread.rootId);
    input.value = "";
  };
  $("thread-composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  // --- replying from the main composer --------------------------------------------------------

  function startReply(conv, message) {
    store.replying = { conv, message };
    $("reply-bar").hidden = false;
    const who = message.sender ? message.sender.username : "system";
    $("reply-bar-text").textContent = `Replying to ${who}: ${(message.body || "").slice(0, 60)}`;
    $("composer-input").focus();
  }

  function cancelReply() {
    store.replying = null;
    if ($("reply-bar")) $("reply-bar").hidden = true;
  }

  // The id the next message from the main composer answers (and forgets it), or null.
  function takeReplyTarget(conv) {
    if (!store.replying || store.replying.conv !== conv) return null;
    const id = store.replying.message.id;
    cancelReply();
    return id;
  }

  // --- pieces of a message row ------------------------------------------------------------------

  function replyQuote(message) {
    const ref = message.reply_to;
    if (!ref) return null;
    const who = ref.sender ? ref.sender.username : "";
    return el(
      "button",
      {
        type: "button",
        class: "reply-quote",
        "aria-label": `In reply to ${who || "a message"}: ${ref.excerpt || "deleted message"}. Show it`,
        onclick: () => scrollToMessage(ref.id),
      },
      el("span", { class: "reply-quote-sender" }, who ? `↪ ${who}` : "↪"),
      " ",
      el("span", { class: "reply-quote-excerpt" }, ref.excerpt || "Message deleted"),
    );
  }

  function threadButton(conv, message) {
    const summary = message.thread_summary;
    if (!summary || !summary.replies) return null;
    const label = `${summary.replies} ${summary.replies === 1 ? "reply" : "replies"}`;
    return el("button", { type: "button", class: "link thread-link", onclick: () => openThread(conv, message) }, label);
  }

  function replyButton(conv, message) {
    return el(
      "button",
      { type: "button", class: "link", "aria-label": "Reply to this message", onclick: () => startReply(conv, message) },
      "Reply",
    );
  }

  function scrollToMessage(id) {
    const row = document.querySelector(`#messages li.message[data-id="${CSS.escape(String(id))}"]`);
    if (!row) return;
    row.scrollIntoView({ block: "center", behavior: "smooth" });
    row.classList.add("flash");
    setTimeout(() => row.classList.remove("flash"), 1500);
  }

  // --- the thread panel -----------------------------------------------------------------------------

  async function openThread(conv, root) {
    store.thread = { conv, rootId: String(root.id), root, messages: new Map() };
    $("thread-panel").hidden = false;
    renderThread();
    try {
      let after = 0;
      for (;;) {
        const page = await api("GET", `/api/conversations/${conv.id}/threads/${root.id}/?after_seq=${after}&limit=200`);
        if (!store.thread || store.thread.rootId !== String(root.id)) return;
        store.thread.root = page.root;
        for (const m of page.results) store.thread.messages.set(String(m.id), m);
        if (!page.has_more || !page.results.length) break;
        after = page.results[page.results.length - 1].seq;
      }
    } catch {
      /* the panel shows what arrives live */
    }
    renderThread();
    $("thread-input").focus();
  }

  function closeThread() {
    store.thread = null;
    if ($("thread-panel")) $("thread-panel").hidden = true;
  }

  // Every live or synced message passes here: replies of the open thread join it.
  function threadMessage(message) {
    if (!store.thread || message.conversation !== store.thread.conv.id) return;
    if (String(message.thread) !== store.thread.rootId && String(message.id) !== store.thread.rootId) return;
    if (String(message.id) === store.thread.rootId) store.thread.root = { ...store.thread.root, ...message };
    else store.thread.messages.set(String(message.id), { ...(store.thread.messages.get(String(message.id)) || {}), ...message });
    renderThread();
  }

  function renderThread() {
    if (!store.thread) return;
    const rows = [store.thread.root, ...[...store.thread.messages.values()].sort((a, b) => a.seq - b.seq)];
    $("thread-messages").replaceChildren(
      ...rows.map((m) =>
        el(
          "li",
          { class: `message${m === store.thread.root ? " thread-root" : ""}`, dataset: { id: m.id, seq: m.seq } },
          el(
            "div",
            { class: "meta" },
            el("span", { class: "sender" }, m.sender ? m.sender.username : ""),
            " ",
            el("time", { datetime: m.created_at }, timeOf(m.created_at)),
          ),
          m.deleted ? el("div", { class: "body tombstone" }, "This message was deleted") : hooks.body(m),
        ),
      ),
    );
  }

  return { replyButton, replyQuote, threadButton, takeReplyTarget, threadMessage, startReply, cancelReply, openThread, closeThread };
}
