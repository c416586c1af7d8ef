// View: the group details panel (#details): description, members with roles, rename, add and
// remove members, ownership transfer, leave. Destructive steps ask with confirmDialog.

import { api } from "./api.js";
import { debounce } from "./debounce.js";
import { confirmDialog } from "./feedback.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

export async function searchUsers(query) {
  if (!query.trim()) return [];
  return api("GET", `/api/users/?search=${encodeURIComponent(query.trim())}`);
}

function memberRows(conv, members) {
  return (members || conv.members).map((m) => {
    const user = m.user && typeof m.user === "object" ? m.user : null;
    return {
      id: Number(user ? user.id : (m.user ?? m.id)),
      username: user ? user.username : m.username,
      role: m.role || null,
    };
  });
}

// ctx: {store, refresh(...parts), groups (groups.js: the visibility switch and invite link),
//       actions: {openConversation}}
export function createDetails(ctx) {
  const { store } = ctx;

  function close() {
    $("details").hidden = true;
    $("details-button").setAttribute("aria-expanded", "false");
  }

  const isOpen = () => !$("details").hidden;

  async function open() {
    const conv = store.current;
    if (!conv || conv.kind !== "group") return;
    $("details").hidden = false;
    $("details-button").setAttribute("aria-expanded", "true");
    $("details-title").textContent = conv.title;
    $("details-note").textContent = "Loading…";
    let group = null;
    let members = null;
    try {
      [group, members] = await Promise.all([
        api("GET", `/api/groups/${conv.id}/`),
        api("GET", `/api/groups/${conv.id}/members/`),
      ]);
    } catch {
      // No group management on this server (or not a member any more): show what we know.
      group = null;
      members = null;
    }
    if (conv !== store.current) return;
    if (group && typeof group.name === "string") conv.title = group.name;
    render(conv, group, Array.isArray(members) ? members : members && members.results);
  }

  function render(conv, group, memberList) {
    const me = store.me;
    const members = memberRows(conv, memberList);
    const mine = members.find((m) => m.id === me.id);
    const myRole = (group && group.your_role) || (mine ? mine.role : null);
    const manager = Boolean(group) && (myRole === "owner" || myRole === "admin");
    $("details-note").textContent = group
      ? myRole
        ? `Your role: ${myRole}`
        : ""
      : "Group management is not available on this server yet.";
    $("details-title").textContent = conv.title;
    $("rename-form").hidden = !manager;
    $("rename-input").value = conv.title;
    $("description-input").value = (group && group.description) || "";
    $("details-description").textContent = (group && group.description) || "";
    $("details-description").hidden = manager || !(group && group.description);
    // Large groups: a filter over the member list.
    const filterBox = $("member-filter");
    filterBox.hidden = members.length <= 8;
    const filter = filterBox.hidden ? "" : filterBox.value.trim().toLowerCase();
    $("add-member-form").hidden = !manager;
    $("leave-button").hidden = !group;
    ctx.groups.renderGroupExtras(conv, group);
    $("member-list").replaceChildren(
      ...members.filter((m) => !filter || (m.username || "").toLowerCase().includes(filter)).map((m) => {
        const buttons = [];
        if (manager && m.id !== me.id && m.role !== "owner" && (myRole === "owner" || m.role !== "admin")) {
          buttons.push(el("button", { type: "button", class: "link", onclick: () => removeMember(conv, m), "aria-label": `Remove ${m.username}` }, "Remove"));
        }
        if (myRole === "owner" && m.id !== me.id && m.role !== "owner") {
          const next = m.role === "admin" ? "member" : "admin";
          buttons.push(el("button", { type: "button", class: "link", onclick: () => setRole(conv, m, next), "aria-label": `Make ${m.username} ${next}` }, next === "admin" ? "Make admin" : "Make member"));
          buttons.push(el("button", { type: "button", class: "link", onclick: () => transferOwnership(conv, m), "aria-label": `Make ${m.username} the owner` }, "Make owner"));
        }
        return el(
          "li",
          { dataset: { userId: m.id } },
          el("span", { class: "member-name" }, m.username || `user ${m.id}`),
          m.role ? el("span", { class: `role role-${m.role}` }, m.role) : null,
          ...buttons,
        );
      }),
    );
  }

  async function groupAction(conv, action) {
    try {
      await action();
      $("details-note").textContent = "Done.";
    } catch (error) {
      $("details-note").textContent = `Could not do that: ${error.message}`;
    }
    if (conv === store.current && isOpen() && store.conversations.has(conv.id)) open();
  }

  async function removeMember(conv, member) {
    const sure = await confirmDialog({
      title: `Remove ${member.username} from ${conv.title}?`,
      text: "They stop receiving its messages; an owner or admin can add them again.",
      confirm: "Remove",
    });
    if (sure) groupAction(conv, () => api("DELETE", `/api/groups/${conv.id}/members/${member.id}/`));
  }

  async function transferOwnership(conv, member) {
    const sure = await confirmDialog({
      title: `Make ${member.username} the owner of ${conv.title}?`,
      text: "You become an admin; only the new owner can give ownership back.",
      confirm: "Make owner",
      danger: false,
    });
    if (sure) setRole(conv, member, "owner");
  }

  function setRole(conv, member, role) {
    groupAction(conv, () => api("PATCH", `/api/groups/${conv.id}/members/${member.id}/`, { role }));
  }

  $("details-button").addEventListener("click", () => (isOpen() ? close() : open()));
  $("details-close").addEventListener("click", () => {
    close();
    $("details-button").focus();
  });
  $("rename-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const conv = store.current;
    const name = $("rename-input").value.trim();
    const description = $("description-input").value.trim();
    groupAction(conv, async () => {
      const answer = await api("PATCH", `/api/groups/${conv.id}/`, { name, description });
      conv.title = (answer && answer.name) || name;
      ctx.refresh("header", "sidebar");
    });
  });
  $("member-filter").addEventListener("input", debounce(() => store.current && open(), 200));
  const input = $("add-member-input");
  const results = $("add-member-results");
  $("add-member-form").addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener(
    "input",
    debounce(async () => {
      const conv = store.current;
      const users = await searchUsers(input.value).catch(() => []);
      const present = new Set(conv.members.map((m) => m.id));
      results.replaceChildren(
        ...users
          .filter((u) => !present.has(u.id))
          .map((user) =>
            el("li", {}, el("button", { type: "button", onclick: () => addMember(conv, user) }, `Add ${user.username}`)),
          ),
      );
    }, 200),
  );
  function addMember(conv, user) {
    input.value = "";
    results.replaceChildren();
    groupAction(conv, async () => {
      await api("POST", `/api/groups/${conv.id}/members/`, { user: user.id, role: "member" });
      conv.members = [...conv.members.filter((m) => m.id !== user.id), user];
    });
  }
  $("leave-button").addEventListener("click", async () => {
    const conv = store.current;
    const sure = await confirmDialog({ title: `Leave ${conv.title}?`, text: "You stop receiving its messages.", confirm: "Leave" });
    if (!sure) return;
    groupAction(conv, async () => {
      await api("POST", `/api/groups/${conv.id}/leave/`);
      store.conversations.delete(conv.id);
      ctx.actions.openConversation(null);
    });
  });

  return { open, close, isOpen };
}
