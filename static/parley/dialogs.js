// View: the "New chat" and "New group" dialogs.

import { api } from "./api.js";
import { debounce } from "./debounce.js";
import { searchUsers } from "./details.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

// ctx: {actions: {adopt(summary) -> conv, openConversation}}
export function setUpDialogs(ctx) {
  setUpDirectDialog(ctx);
  setUpGroupDialog(ctx);
}

function setUpDirectDialog(ctx) {
  const dialog = $("direct-dialog");
  const input = $("direct-search");
  const results = $("direct-results");
  $("new-direct").addEventListener("click", () => {
    input.value = "";
    results.replaceChildren();
    $("direct-error").textContent = "";
    dialog.showModal();
    input.focus();
  });
  async function openDirect(user) {
    try {
      const summary = await api("POST", "/api/conversations/direct/", { user: user.id });
      dialog.close();
      ctx.actions.openConversation(ctx.actions.adopt(summary));
    } catch (error) {
      $("direct-error").textContent = error.message;
    }
  }
  input.addEventListener(
    "input",
    debounce(async () => {
      const users = await searchUsers(input.value).catch(() => []);
      results.replaceChildren(
        ...users.map((user) =>
          el("li", {}, el("button", { type: "button", onclick: () => openDirect(user) }, `Chat with ${user.username}`)),
        ),
      );
    }, 200),
  );
}

function setUpGroupDialog(ctx) {
  const dialog = $("group-dialog");
  const search = $("group-search");
  const results = $("group-results");
  const chosen = new Map();
  const showChosen = () => {
    $("group-chosen").replaceChildren(
      ...(chosen.size
        ? [...chosen.values()].map((u) =>
            el(
              "button",
              {
                type: "button",
                class: "chip",
                "aria-label": `Remove ${u.username}`,
                onclick: () => {
                  chosen.delete(u.id);
                  showChosen();
                },
              },
              `${u.username} ×`,
            ),
          )
        : ["none yet"]),
    );
  };
  $("new-group").addEventListener("click", () => {
    chosen.clear();
    showChosen();
    $("group-name").value = "";
    search.value = "";
    results.replaceChildren();
    $("group-error").textContent = "";
    dialog.showModal();
    $("group-name").focus();
  });
  $("group-cancel").addEventListener("click", () => dialog.close());
  search.addEventListener(
    "input",
    debounce(async () => {
      const users = await searchUsers(search.value).catch(() => []);
      const choose = (user) => {
        chosen.set(user.id, user);
        showChosen();
        search.focus();
      };
      results.replaceChildren(
        ...users.map((user) => el("li", {}, el("button", { type: "button", onclick: () => choose(user) }, `Add ${user.username}`))),
      );
    }, 200),
  );
  $("group-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const summary = await api("POST", "/api/groups/", {
        name: $("group-name").value.trim(),
        members: [...chosen.keys()],
      });
      dialog.close();
      ctx.actions.openConversation(ctx.actions.adopt(summary));
    } catch (error) {
      $("group-error").textContent = error.message;
    }
  });
}
