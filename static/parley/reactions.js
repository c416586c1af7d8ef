// Reactions: the bar under a message (click toggles yours, hover shows who), the emoji picker
// (a small built-in set plus a search over Unicode names answered by the server: no other
// network), and the state update for `reaction` frames.

import { api } from "./api.js";
import { el } from "./render.js";

const COMMON = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀", "✅", "🔥", "👎", "🚀"];

// The message with a `reaction` frame applied: count, up to 10 users, and `me`.
export function applyReaction(message, frame, me) {
  const reactions = (message.reactions || []).map((r) => ({ ...r, users: [...r.users] }));
  let entry = reactions.find((r) => r.emoji === frame.emoji);
  if (!entry) {
    entry = { emoji: frame.emoji, count: 0, users: [], me: false };
    reactions.push(entry);
  }
  entry.count = frame.count;
  entry.users = entry.users.filter((id) => id !== frame.user);
  if (frame.on) entry.users.push(frame.user);
  entry.users = entry.users.slice(0, 10);
  if (frame.user === me.id) entry.me = frame.on;
  return { ...message, reactions: reactions.filter((r) => r.count > 0) };
}

// hooks: {react(conv, message, emoji, on), nameOf(conv, userId)}. The open picker is view state
// and lives in this closure. Returns `reactionBar(conv, message)`, the row builder
// messagelist.js puts under a message (`ctx.reactions`).
export function createReactions(hooks) {
  let picker = null;

  document.addEventListener("click", (event) => {
    if (picker && !picker.node.contains(event.target) && !event.target.closest(".react-add")) closePicker();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && picker) closePicker();
  });

  function reactionBar(conv, message) {
    const reactions = message.reactions || [];
    const buttons = reactions.map((r) => {
      const names = r.users.map((id) => hooks.nameOf(conv, id)).join(", ");
      const more = r.count > r.users.length ? ` and ${r.count - r.users.length} more` : "";
      return el(
        "button",
        {
          type: "button",
          class: `reaction${r.me ? " mine" : ""}`,
          "aria-pressed": r.me ? "true" : "false",
          "aria-label": `${r.emoji} ${r.count}: ${names}${more}`,
          title: `${names}${more}`,
          onclick: () => hooks.react(conv, message, r.emoji, !r.me),
        },
        `${r.emoji} ${r.count}`,
      );
    });
    const add = el(
      "button",
      { type: "button", class: "reaction react-add", "aria-label": "Add a reaction", "aria-haspopup": "dialog", onclick: (event) => openPicker(conv, message, event.currentTarget) },
      "☺+",
    );
    return el("div", { class: "reactions" }, ...buttons, add);
  }

  function closePicker() {
    if (picker) picker.node.remove();
    picker = null;
  }

  function openPicker(conv, message, anchor) {
    closePicker();
    const results = el("div", { class: "picker-results", role: "listbox", "aria-label": "Emoji" });
    const choose = (emoji) => {
      hooks.react(conv, message, emoji, true);
      closePicker();
    };
    const show = (list) =>
      results.replaceChildren(
        ...list.map(({ emoji, name }) =>
          el("button", { type: "button", class: "picker-emoji", role: "option", title: name, "aria-label": name, onclick: () => choose(emoji) }, emoji),
        ),
      );
    const search = el("input", { type: "search", class: "picker-search", placeholder: "Search emoji", "aria-label": "Search emoji" });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      const query = search.value.trim();
      if (!query) return show(COMMON.map((emoji) => ({ emoji, name: emoji })));
      timer = setTimeout(async () => {
        try {
          show(await api("GET", `/api/emoji/?search=${encodeURIComponent(query)}`));
        } catch {
          /* keep what is shown */
        }
      }, 200);
    });
    const node = el("div", { class: "emoji-picker", role: "dialog", "aria-label": "Pick a reaction" }, search, results);
    show(COMMON.map((emoji) => ({ emoji, name: emoji })));
    anchor.closest(".reactions").append(node);
    picker = { node };
    search.focus();
  }

  return { reactionBar };
}
