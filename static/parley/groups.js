// Public groups and invite links: "Browse groups" (search, join), and in a group's details
// its visibility and "Copy invite link" for the owner and admins.

import { api } from "./api.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

// hooks: {adopt(summary) -> conv, conversation(id), open(conv), flash(text), isMember(id)}. Sets
// up "Browse groups" and returns `renderGroupExtras(conv, group)`, which the details panel
// (details.js, through `ctx.groups`) calls.
export function createGroups(hooks) {
  const browse = el("button", { type: "button", id: "browse-groups" }, "Browse groups");
  document.querySelector(".sidebar-actions").append(browse);
  const dialog = el(
    "dialog",
    { id: "browse-dialog", "aria-labelledby": "browse-title" },
    el(
      "form",
      { method: "dialog", class: "dialog-form" },
      el("h2", { id: "browse-title" }, "Public groups"),
      el("label", { for: "browse-search" }, "Search groups"),
      el("input", { id: "browse-search", type: "search", autocomplete: "off", placeholder: "Name or description" }),
      el("ul", { id: "browse-results", class: "search-results", "aria-label": "Public groups" }),
      el("div", { class: "dialog-buttons" }, el("button", { value: "cancel" }, "Close")),
    ),
  );
  document.body.append(dialog);
  let timer = null;
  $("browse-search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });
  browse.addEventListener("click", () => {
    dialog.showModal();
    load();
  });
  const extras = el("div", { id: "group-extras", class: "group-extras" });
  $("leave-button").before(extras);

  async function load() {
    const list = $("browse-results");
    try {
      const groups = await api("GET", `/api/groups/?public=1&search=${encodeURIComponent($("browse-search").value)}`);
      list.replaceChildren(
        ...(groups.length
          ? groups.map((group) => {
              const member = hooks.isMember(group.id);
              return el(
                "li",
                { class: "public-group" },
                el("span", { class: "member-name" }, group.name),
                " ",
                el("span", { class: "subtitle" }, `${group.member_count} member${group.member_count === 1 ? "" : "s"}`),
                group.description ? el("p", { class: "subtitle" }, group.description) : null,
                el(
                  "button",
                  { type: "button", "aria-label": `${member ? "Open" : "Join"} ${group.name}`, onclick: () => join(group, member) },
                  member ? "Open" : "Join",
                ),
              );
            })
          : [el("li", { class: "empty" }, "No public groups found.")]),
      );
    } catch (error) {
      list.replaceChildren(el("li", { class: "form-error" }, error.message));
    }
  }

  async function join(group, member) {
    try {
      const summary = member ? null : await api("POST", `/api/groups/${group.id}/join/`);
      $("browse-dialog").close();
      const conv = summary ? hooks.adopt(summary) : hooks.conversation(group.id);
      if (conv) hooks.open(conv);
    } catch (error) {
      hooks.flash(error.message);
    }
  }

  // The visibility switch and invite link of a group's details panel.
  function renderGroupExtras(conv, group) {
    const box = $("group-extras");
    if (!box) return;
    const manager = group && (group.your_role === "owner" || group.your_role === "admin");
    if (!group) return box.replaceChildren();
    const visibility = group.visibility || "private";
    const link = el("input", { id: "invite-url", readonly: true, "aria-label": "Invite link", hidden: true });
    const items = [el("p", { class: "subtitle" }, visibility === "public" ? "Public group: anyone can find and join it." : "Private group: members add people or share an invite link.")];
    if (manager) {
      items.push(
        el(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                const next = visibility === "public" ? "private" : "public";
                const updated = await api("PATCH", `/api/groups/${conv.id}/`, { visibility: next });
                renderGroupExtras(conv, updated);
              } catch (error) {
                hooks.flash(error.message);
              }
            },
          },
          visibility === "public" ? "Make private" : "Make public",
        ),
        el(
          "button",
          {
            type: "button",
            id: "copy-invite",
            onclick: async () => {
              try {
                const invite = await api("POST", `/api/groups/${conv.id}/invites/`, { expires_in: 7 * 24 * 3600 });
                link.value = invite.url;
                link.hidden = false;
                link.select();
                try {
                  await navigator.clipboard.writeText(invite.url);
                  hooks.flash("Invite link copied (valid for 7 days).");
                } catch {
                  hooks.flash("Invite link created: copy it from the box.");
                }
              } catch (error) {
                hooks.flash(error.message);
              }
            },
          },
          "Copy invite link",
        ),
        link,
      );
    }
    box.replaceChildren(...items);
  }

  return { renderGroupExtras };
}
