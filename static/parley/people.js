// What the client knows about people: display names, avatars and status. The cards live in
// the store (`store.people`, kept fresh by `ready.users` and `user_updated` frames through
// store.js `rememberPeople`); views ask `ctx.people` (createPeople) instead of reading usernames.

import { el } from "./render.js";

function nameOf(card) {
  return card.display_name || card.username || (card.id ? `user ${card.id}` : "Someone");
}

function statusOf(card) {
  if (!card.status_text && !card.status_emoji) return "";
  if (card.status_expires_at && new Date(card.status_expires_at) <= new Date()) return "";
  return [card.status_emoji, card.status_text].filter(Boolean).join(" ");
}

// An avatar element for a whole card (the settings page's own profile): the uploaded
// picture, or initials.
export function avatarOf(card, { size = "small", cls = "avatar" } = {}) {
  const url = size === "small" ? card.avatar_small_url || card.avatar_url : card.avatar_url;
  if (url) return el("img", { class: `${cls} avatar-img`, src: url, alt: "", loading: "lazy" });
  return el("span", { class: cls, "aria-hidden": "true" }, nameOf(card).slice(0, 1).toUpperCase());
}

// The chat page's view of people: each function takes a user as a frame carries it ({id,
// username, …}) and shows what the store knows of them.
export function createPeople(store) {
  function known(user) {
    return (user && store.people.get(user.id)) || user || {};
  }

  function displayName(user) {
    return nameOf(known(user));
  }

  // Changes whenever what views show of the person changes (their rows are rebuilt then).
  function personVersion(user) {
    if (!user) return "";
    const card = known(user);
    return `${nameOf(card)}|${card.avatar_url || ""}`;
  }

  function avatarOfUser(user, options) {
    return avatarOf(known(user), options);
  }

  // A small card (dialog) about a person: picture, names, status, local time.
  function showUserCard(user) {
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
        el("h2", { id: "user-card-name" }, nameOf(card)),
        el("p", { class: "user-card-handle" }, `@${card.username || ""}`),
        status ? el("p", { class: "user-card-status" }, status) : null,
        localTime ? el("p", { class: "user-card-time" }, `Local time ${localTime} (${card.timezone})`) : null,
        el("div", { class: "dialog-buttons" }, el("button", { value: "close" }, "Close")),
      ),
    );
    dialog.showModal();
  }

  return { displayName, personVersion, avatarOf: avatarOfUser, showUserCard };
}
