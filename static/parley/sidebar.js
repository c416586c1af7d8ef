// View: the conversation list (#sidebar), the page title's and the favicon's unread count.

import { el } from "./render.js";
import { directPartner, isMine, presenceOf, sortedConversations, unreadTotal } from "./store.js";

const $ = (id) => document.getElementById(id);

function previewText(store, displayName, conv) {
  const m = conv.preview;
  if (!m) return conv.kind === "announcement" ? "Announcements from the staff" : "No messages yet";
  if (m.deleted || m.body === null || m.body === undefined) return "Message deleted";
  const mine = isMine(store, m);
  const who = m.sender ? (mine ? "You" : displayName(m.sender)) : "";
  const text = m.body.replace(/\s+/g, " ").slice(0, 80);
  return who && conv.kind !== "direct" ? `${who}: ${text}` : mine ? `You: ${text}` : text;
}

// ctx: {store, people (people.js), actions: {openConversation}}
export function createSidebar(ctx) {
  const { store } = ctx;
  const { avatarOf, displayName } = ctx.people;
  const list = $("conversation-list");
  const favicon = { count: -1 };

  // The conversations the filter box lets through, in sidebar order.
  function shown() {
    const filter = $("conversation-filter").value.trim().toLowerCase();
    return sortedConversations(store).filter((conv) => {
      if (!filter) return true;
      const partner = directPartner(store, conv);
      return [conv.title, partner ? displayName(partner) : ""].some((t) => t.toLowerCase().includes(filter));
    });
  }

  function row(conv) {
    const partner = directPartner(store, conv);
    const state = partner ? presenceOf(store, partner.id) : null;
    const label = [conv.title];
    if (conv.kind === "group") label.push("group");
    if (conv.kind === "announcement") label.push("announcements");
    if (state) label.push(state.status);
    if (conv.unread) label.push(`${conv.unread} unread`);
    if (conv.unreadMentions) label.push(`${conv.unreadMentions} mentioning you`);
    const mark = partner
      ? avatarOf(partner, { cls: "avatar-inner" })
      : conv.kind === "announcement"
        ? "📢"
        : conv.kind === "group"
          ? "#"
          : conv.title.slice(0, 1).toUpperCase();
    const button = el(
      "button",
      {
        type: "button",
        class: "conversation",
        "aria-current": conv === store.current ? "true" : null,
        "aria-label": label.join(", "),
        onclick: () => ctx.actions.openConversation(conv),
      },
      el(
        "span",
        { class: "avatar", "aria-hidden": "true" },
        mark,
        state ? el("span", { class: `presence-dot ${state.status}` }) : null,
      ),
      el(
        "span",
        { class: "conversation-text" },
        el("span", { class: "conversation-title", dir: "auto" }, partner ? displayName(partner) : conv.title),
        el("span", { class: "conversation-preview", dir: "auto" }, previewText(store, displayName, conv)),
      ),
      conv.unreadMentions ? el("span", { class: "badge mention-badge", "aria-hidden": "true" }, "@") : null,
      conv.unread ? el("span", { class: "badge", "aria-hidden": "true" }, String(conv.unread)) : null,
    );
    return el("li", { dataset: { conversationId: conv.id, kind: conv.kind } }, button);
  }

  function render() {
    const conversations = shown();
    const focusedId = document.activeElement?.closest?.("#conversation-list li")?.dataset.conversationId;
    list.replaceChildren(...conversations.map(row));
    if (focusedId) list.querySelector(`li[data-conversation-id="${focusedId}"] button`)?.focus();
    const filtering = Boolean($("conversation-filter").value.trim());
    $("no-conversations").hidden = store.conversations.size > 0;
    $("no-filter-match").hidden = !(filtering && store.conversations.size && !conversations.length);
    const total = unreadTotal(store);
    document.title = total ? `(${total}) Parley` : "Parley";
    $("mark-all-read").hidden = total === 0;
    renderFavicon(total);
  }

  function renderFavicon(total) {
    if (total === favicon.count) return;
    favicon.count = total;
    const link = document.getElementById("favicon");
    if (!link) return;
    if (!link.dataset.plain) link.dataset.plain = link.href;
    if (!total) {
      link.href = link.dataset.plain;
      return;
    }
    const label = total > 99 ? "99+" : String(total);
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">` +
      `<rect width="64" height="64" rx="14" fill="#0b5cad"/>` +
      `<path d="M16 18h32a6 6 0 0 1 6 6v16a6 6 0 0 1-6 6H30l-10 8v-8h-4a6 6 0 0 1-6-6V24a6 6 0 0 1 6-6z" fill="#fff"/>` +
      `<circle cx="48" cy="16" r="16" fill="#d92d20"/>` +
      `<text x="48" y="22" font-family="sans-serif" font-size="${label.length > 2 ? 13 : 18}" font-weight="700" text-anchor="middle" fill="#fff">${label}</text></svg>`;
    link.href = `data:image/svg+xml,${encodeURIComponent(svg)}`;
  }

  $("conversation-filter").addEventListener("input", () => ctx.refresh("sidebar"));
  $("mark-all-read").addEventListener("click", () => ctx.actions.markAllRead());

  return { render, focusConversation: (id) => list.querySelector(`li[data-conversation-id="${id}"] button`)?.focus() };
}
