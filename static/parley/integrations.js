// Settings › Integrations: bots, personal API tokens, incoming and outgoing webhooks.
// A secret (a new token) is shown once, in a read-only field, and never kept in memory after.
// Everything from the server becomes text nodes only.

import { api } from "./api.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

function when(value) {
  return value ? new Date(value).toLocaleString() : "never";
}

export function isCommand(text) {
  return /^\/[a-z0-9]/i.test(text.trim());
}

// store: the chat page's store; what this module remembers lives there: `store.bots` (ids of
// the bots this user shares a conversation with), `store.commandRefs` (client_msg_ids of the
// commands sent from here) and `store.commandLists` (conversation id -> [{command,
// description}]). Sets up the Integrations dialog and returns the badge builder messagelist.js
// puts into rows, the composer's slash-command steps and the frame hooks protocol.js calls.
export function createIntegrations(store) {
  function showSecret(label, secret) {
    const box = $("integrations-secret");
    box.replaceChildren(
      el("p", { text: `${label} — copy it now, it will not be shown again:` }),
      el("input", { readonly: true, value: secret, "aria-label": label, id: "integrations-secret-value" }),
    );
    box.hidden = false;
  }

  function fail(error) {
    $("integrations-error").textContent = error.message || String(error);
  }

  async function refreshBots() {
    loadKnownBots(); // a bot made here (or for a webhook) gets its badge from now on
    const bots = await api("GET", "/api/bots/");
    const list = $("bot-list");
    list.replaceChildren(
      ...bots.map((bot) =>
        el(
          "li",
          { class: "integration-row", dataset: { botId: bot.id } },
          el("span", { class: "badge", text: "bot" }),
          " ",
          el("strong", { text: bot.display_name }),
          ` @${bot.username}`,
          bot.is_active ? "" : " (deactivated)",
          bot.is_active
            ? el("button", {
                type: "button",
                text: "New token",
                onclick: () => act(async () => {
                  const rotated = await api("POST", `/api/bots/${bot.id}/token/`);
                  showSecret(`Token of @${bot.username}`, rotated.token);
                }),
              })
            : null,
          bot.is_active
            ? el("button", {
                type: "button",
                class: "danger",
                text: "Deactivate",
                onclick: () => act(() => api("DELETE", `/api/bots/${bot.id}/`)),
              })
            : null,
        ),
      ),
    );
  }

  async function refreshTokens() {
    const tokens = await api("GET", "/api/me/tokens/");
    $("token-list").replaceChildren(
      ...tokens.map((token) =>
        el(
          "li",
          { class: "integration-row", dataset: { tokenId: token.id } },
          el("strong", { text: token.name }),
          ` ${token.prefix}… · ${token.scopes.join(", ")} · last used ${when(token.last_used_at)}`,
          token.expires_at ? ` · expires ${when(token.expires_at)}` : "",
          el("button", {
            type: "button",
            class: "danger",
            text: "Revoke",
            onclick: () => act(() => api("DELETE", `/api/me/tokens/${token.id}/`)),
          }),
        ),
      ),
    );
  }

  async function refreshHooks() {
    const select = $("hook-conversation");
    const chosen = select.value;
    const conversations = (await api("GET", "/api/conversations/")).filter(
      (c) => c.kind === "group" || c.kind === "direct",
    );
    select.replaceChildren(
      ...conversations.map((c) => el("option", { value: c.id, text: c.title || `#${c.id}` })),
    );
    if (chosen && conversations.some((c) => String(c.id) === chosen)) select.value = chosen;
    const list = $("hook-list");
    if (!select.value) {
      list.replaceChildren();
      return;
    }
    let hooks = [];
    try {
      hooks = await api("GET", `/api/conversations/${select.value}/webhooks/`);
    } catch {
      hooks = []; // not an owner/admin there: nothing to list
    }
    list.replaceChildren(
      ...hooks.map((hook) =>
        el(
          "li",
          { class: "integration-row", dataset: { hookId: hook.id } },
          el("strong", { text: hook.name }),
          ` /hooks/${hook.prefix}… · last used ${when(hook.last_used_at)}`,
          el("button", {
            type: "button",
            class: "danger",
            text: "Delete",
            onclick: () =>
              act(() => api("DELETE", `/api/conversations/${select.value}/webhooks/${hook.id}/`)),
          }),
        ),
      ),
    );
  }

  async function refreshOutgoing() {
    const hooks = await api("GET", "/api/webhooks/");
    $("outgoing-list").replaceChildren(
      ...hooks.map((hook) =>
        el(
          "li",
          { class: "integration-row", dataset: { webhookId: hook.id } },
          el("strong", { text: hook.url }),
          ` · ${hook.events.join(", ")} · ${
            Array.isArray(hook.conversations) ? `${hook.conversations.length} conversation(s)` : hook.conversations
          }`,
          hook.is_active ? "" : el("span", { class: "form-error", text: ` disabled: ${hook.disabled_reason}` }),
          hook.is_active
            ? null
            : el("button", {
                type: "button",
                text: "Enable",
                onclick: () => act(() => api("POST", `/api/webhooks/${hook.id}/enable/`)),
              }),
          el("button", {
            type: "button",
            class: "danger",
            text: "Delete",
            onclick: () => act(() => api("DELETE", `/api/webhooks/${hook.id}/`)),
          }),
        ),
      ),
    );
  }

  const refreshers = [refreshBots, refreshTokens, refreshHooks, refreshOutgoing];

  async function refreshAll() {
    $("integrations-error").textContent = "";
    await Promise.all(refreshers.map((refresh) => refresh().catch(fail)));
  }

  async function act(work) {
    try {
      await work();
    } catch (error) {
      fail(error);
    }
    await refreshAll();
  }

  // One of my outgoing webhooks kept failing and was disabled: say so on the Integrations button.
  function onWebhookDisabled(frame) {
    const button = $("integrations-button");
    if (!button) return;
    button.textContent = "Integrations (1 disabled webhook)";
    button.title = `Disabled: ${frame.url} — ${frame.reason}`;
  }

  // Bots this user shares a conversation with (`store.bots`): their messages carry a "bot" badge.
  function botBadge(sender) {
    return sender && store.bots.has(sender.id) ? el("span", { class: "badge bot-badge", text: "bot" }) : null;
  }

  function loadKnownBots() {
    api("GET", "/api/bots/known/")
      .then((bots) => bots.forEach((bot) => store.bots.add(bot.id)))
      .catch(() => {});
  }

  function setUp() {
    loadKnownBots();
    const dialog = $("integrations-dialog");
    const button = $("integrations-button");
    if (!dialog || !button) return;
    button.addEventListener("click", () => {
      $("integrations-secret").hidden = true;
      $("integrations-secret").replaceChildren();
      dialog.showModal();
      refreshAll();
    });
    $("integrations-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => $("integrations-secret").replaceChildren());
    $("bot-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(async () => {
        const bot = await api("POST", "/api/bots/", {
          username: $("bot-username").value.trim(),
          display_name: $("bot-display-name").value.trim(),
        });
        $("bot-form").reset();
        showSecret(`Token of @${bot.username}`, bot.token);
      });
    });
    $("hook-conversation").addEventListener("change", () => refreshHooks().catch(fail));
    $("hook-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(async () => {
        const hook = await api("POST", `/api/conversations/${$("hook-conversation").value}/webhooks/`, {
          name: $("hook-name").value.trim(),
        });
        $("hook-name").value = "";
        showSecret(`URL of “${hook.name}”`, hook.url);
      });
    });
    $("outgoing-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const events = [...document.querySelectorAll("input[name=outgoing-event]:checked")].map(
        (box) => box.value,
      );
      const conversations = $("outgoing-all-mine").checked
        ? "all_mine"
        : [Number($("hook-conversation").value)];
      act(async () => {
        const hook = await api("POST", "/api/webhooks/", {
          url: $("outgoing-url").value.trim(),
          events,
          conversations,
        });
        $("outgoing-form").reset();
        showSecret(`Signing secret of ${hook.url}`, hook.secret);
      });
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const scopes = [...document.querySelectorAll("input[name=token-scope]:checked")].map(
        (box) => box.value,
      );
      const days = Number($("token-days").value);
      act(async () => {
        const token = await api("POST", "/api/me/tokens/", {
          name: $("token-name").value.trim(),
          scopes,
          expires_in: days > 0 ? days * 86400 : null,
        });
        $("token-form").reset();
        showSecret(`Token “${token.name}”`, token.token);
      });
    });
  }

  // --- slash commands in the composer ---------------------------------------------------------

  // Sends the line as a `command` frame; false when not connected.
  function runCommand(conn, conv, text) {
    const ref = `cmd-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    store.commandRefs.add(ref);
    hideSuggestions();
    return conn.send({ type: "command", conversation: conv.id, text: text.trim(), client_msg_id: ref });
  }

  function ephemeralBox() {
    let box = $("ephemeral");
    if (!box) {
      box = el("div", { id: "ephemeral", class: "ephemeral", role: "status", "aria-live": "polite" });
      $("composer").before(box);
    }
    return box;
  }

  function showEphemeral(label, text, isError) {
    const box = ephemeralBox();
    box.replaceChildren(
      el("span", { class: "ephemeral-label", text: label }),
      " ",
      el("span", { class: isError ? "form-error" : "ephemeral-text", text }),
      " ",
      el("button", { type: "button", text: "Dismiss", onclick: () => box.replaceChildren() }),
    );
  }

  // An answer only this user sees (not stored): shown above the composer until dismissed.
  function onEphemeral(frame) {
    showEphemeral(`Only you can see this (${frame.command}):`, frame.text, false);
  }

  // An error answering one of our commands; true when it was one.
  function onCommandError(frame) {
    if (!frame.ref || !store.commandRefs.has(frame.ref)) return false;
    store.commandRefs.delete(frame.ref);
    showEphemeral("Command failed:", String(frame.detail || frame.code), true);
    return true;
  }

  function hideSuggestions() {
    const list = $("command-suggestions");
    if (list) list.replaceChildren();
  }

  // After "/" at the start of the composer: the commands available here, filtered as you type.
  async function suggestCommands(conv, input) {
    const text = input.value;
    if (!conv || !text.startsWith("/") || text.includes(" ")) {
      hideSuggestions();
      return;
    }
    if (!store.commandLists.has(conv.id)) {
      try {
        store.commandLists.set(conv.id, await api("GET", `/api/conversations/${conv.id}/commands/`));
      } catch {
        store.commandLists.set(conv.id, []);
      }
    }
    let list = $("command-suggestions");
    if (!list) {
      list = el("ul", { id: "command-suggestions", class: "command-suggestions", "aria-label": "Commands" });
      $("composer").before(list);
    }
    const typed = input.value.toLowerCase();
    const matches = store.commandLists.get(conv.id).filter((c) => c.command.startsWith(typed));
    list.replaceChildren(
      ...matches.map((c) =>
        el(
          "li",
          {},
          el("button", {
            type: "button",
            text: c.command,
            onclick: () => {
              input.value = `${c.command} `;
              hideSuggestions();
              input.focus();
            },
          }),
          ` ${c.description}`,
        ),
      ),
    );
  }

  setUp();
  return { botBadge, runCommand, suggestCommands, onEphemeral, onCommandError, onWebhookDisabled };
}
