// What the client knows about people: display names, avatars and status, kept fresh by
// `ready.users` and `user_updated` frames. Views ask here instead of reading usernames.

import { el } from "./render.js";

const people = new Map(); // user id -> card (accounts.events.UserCard or PublicUser)

export function rememberPeople(users) {
  for (const user of users || []) {
    people.set(user.id, { ...(people.get(user.id) || {}), ...user });
  }
}

function known(user) {
  return (user && people.get(user.id)) || user || {};
}

export function displayName(user) {
  const card = known(user);
  return card.display_name || card.username || (user && user.id ? `user ${user.id}` : "Someone");
}

// Changes whenever what views show of the person changes (their rows are rebuilt then).
export function personVersion(user) {
  if (!user) return "";
  const card = known(user);
  return `${displayName(card)}|${card.avatar_url || ""}`;
}

function statusOf(card) {
  if (!card.status_text && !card.status_emoji) return "";
  if (card.status_expires_at && new Date(card.status_expires_at) <= new Date()) return "";
  return [card.status_emoji, card.status_text].filter(Boolean).join(" ");
}

// An avatar element: the uploaded picture, or initials as before.
export function avatarOf(user, { size = "small", cls = "avatar" } = {}) {
  const card = known(user);
  const url = size === "small" ? card.avatar_small_url || card.avatar_url : card.avatar_url;
  if (url) return el("img", { class: `${cls} avatar-img`, src: url, alt: "", loading: "lazy" });
  return el("span", { class: cls, "aria-hidden": "true" }, displayName(card).slice(0, 1).toUpperCase());
}

// A small card (dialog) about a person: picture, names, status, local time.
export function showUserCard(user) {
  const card = known(user);
  let dialog = document.getElementById("user-card");
  if (!dialog) {
    dialog = el("dialog", { id: "user-card", class: "user-card", "aria-labelledby": "user-card-name" });
    document.body.append(dialog);
  }
  let localTime = "";
  if (card.timezone) {
    try {
      localTime = new Date().toLocaleTimeString([], { timeZone: card.timezone, hour: "2-digit", minute: "2-digit" });
    } catch {
      localTime = "";
    }
  }
  const status = statusOf(card);
  dialog.replaceChildren(
    el(
      "form",
      { method: "dialog", class: "dialog-form" },
      avatarOf(card, { size: "large", cls: "avatar avatar-large" }),
      el("h2", { id: "user-card-name" }, displayName(card)),
      el("p", { class: "user-card-handle" }, `@${card.username || ""}`),
      status ? el("p", { class: "user-card-status" }, status) : null,
      localTime ? el("p", { class: "user-card-time" }, `Local time ${localTime} (${card.timezone})`) : null,
      el("div", { class: "dialog-buttons" }, el("button", { value: "close" }, "Close")),
    ),
  );
  dialog.showModal();
}
