// Message search: the search box, its filters and results (GET /api/search/).
// Kept apart from app.js; app.js hands in what it owns (the conversations, the open one, and
// how to open a conversation at a message). User text only ever becomes text nodes: the
// server's highlight is escaped text plus <mark> tags, rebuilt here as text and <mark> nodes.

import { api } from "./api.js";
import { el, timeOf } from "./render.js";

const $ = (id) => document.getElementById(id);
const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };

// The highlight as DOM: text nodes, and <mark> elements holding text nodes. Nothing else.
export function highlightNodes(highlight) {
  const fragment = document.createDocumentFragment();
  let marked = false;
  for (const part of String(highlight).split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) {
      const text = document.createTextNode(
        part.replace(/&(amp|lt|gt|quot|#x27);/g, (entity) => ENTITIES[entity]),
      );
      fragment.append(marked ? el("mark", {}, text) : text);
    }
  }
  return fragment;
}

function localMidnight(value) {
  // <input type=date> gives YYYY-MM-DD: the start of that day where the reader is.
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d).toISOString();
}

export function setUpSearch({ conversationList, currentConversation, openAt }) {
  const input = $("search-input");
  const panel = $("search-panel");
  const list = $("search-results");
  const status = $("search-status");
  const more = $("search-more");
  const here = $("search-here");
  const from = $("search-from");
  const after = $("search-after");
  const before = $("search-before");
  const sort = $("search-sort");
  let results = [];
  let next = null;
  let generation = 0;
  let timer = null;

  function params(cursor) {
    const query = new URLSearchParams({ q: input.value, sort: sort.value, limit: "20" });
    const conv = currentConversation();
    if (here.checked && conv) query.set("conversation", String(conv.id));
    if (from.value) query.set("from", from.value);
    if (after.value) query.set("after", localMidnight(after.value));
    if (before.value) query.set("before", localMidnight(before.value));
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  function fillPeople() {
    const chosen = from.value;
    const people = new Map();
    for (const conv of conversationList()) {
      for (const member of conv.members || []) people.set(member.id, member.username);
    }
    const options = [...people.entries()].sort((a, b) => a[1].localeCompare(b[1]));
    from.replaceChildren(
      el("option", { value: "" }, "Anyone"),
      ...options.map(([id, name]) => el("option", { value: String(id) }, name)),
    );
    from.value = people.has(Number(chosen)) ? chosen : "";
  }

  function open() {
    fillPeople();
    const conv = currentConversation();
    here.disabled = !conv;
    if (!conv) here.checked = false;
    $("search-here-label").textContent = conv ? `Only in “${conv.title}”` : "Only in this conversation";
    panel.hidden = false;
  }

  function close() {
    panel.hidden = true;
  }

  function render() {
    const groups = new Map();
    for (const result of results) {
      const key = result.conversation.id;
      if (!groups.has(key)) groups.set(key, { conversation: result.conversation, items: [] });
      groups.get(key).items.push(result);
    }
    list.replaceChildren(
      ...[...groups.values()].map(({ conversation, items }) =>
        el(
          "li",
          { class: "search-group", dataset: { conversationId: conversation.id } },
          el("h3", {}, conversation.title),
          el(
            "ul",
            {},
            ...items.map((result) => {
              const m = result.message;
              return el(
                "li",
                {},
                el(
                  "button",
                  {
                    type: "button",
                    class: "search-hit",
                    dataset: { messageId: m.id, seq: m.seq },
                    onclick: () => choose(result),
                  },
                  el(
                    "span",
                    { class: "meta" },
                    el("span", { class: "sender" }, m.sender ? m.sender.username : "Parley"),
                    " ",
                    el(
                      "time",
                      { datetime: m.created_at },
                      `${new Date(m.created_at).toLocaleDateString()} ${timeOf(m.created_at)}`,
                    ),
                  ),
                  el("span", { class: "search-text" }, highlightNodes(result.highlight)),
                ),
              );
            }),
          ),
        ),
      ),
    );
    more.hidden = !next;
  }

  async function run({ append = false } = {}) {
    const q = input.value.trim();
    const mine = ++generation;
    if (!q) {
      results = [];
      next = null;
      status.textContent = "";
      render();
      return;
    }
    open();
    status.textContent = "Searching…";
    try {
      const page = await api("GET", `/api/search/?${params(append ? next : null)}`);
      if (mine !== generation) return; // a newer search has started
      results = append ? results.concat(page.results) : page.results;
      next = page.next;
      status.textContent = results.length
        ? `${results.length}${next ? "+" : ""} message${results.length === 1 ? "" : "s"} found`
        : "No messages found.";
      render();
    } catch (error) {
      if (mine !== generation) return;
      results = [];
      next = null;
      render();
      status.textContent = error.message;
    }
  }

  async function choose(result) {
    close();
    await openAt(result.conversation.id, result.message);
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    run();
  });
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 300);
  });
  input.addEventListener("focus", () => {
    if (input.value.trim()) open();
  });
  for (const control of [here, from, after, before, sort]) {
    control.addEventListener("change", () => run());
  }
  more.addEventListener("click", () => run({ append: true }));
  $("search-close").addEventListener("click", () => {
    close();
    input.focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      close();
      input.focus();
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      close();
      input.blur();
    } else if (event.key === "ArrowDown" && !panel.hidden) {
      event.preventDefault();
      list.querySelector("button.search-hit")?.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
    const shortcut =
      ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") ||
      (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey);
    if (shortcut) {
      event.preventDefault();
      input.focus();
      input.select();
      if (input.value.trim()) open();
    }
  });
}
