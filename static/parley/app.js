// The chat page: builds the store, the SDK connection, the protocol layer and the views, and
// holds the actions that span several views (opening a conversation, sending, jumping to a
// search hit). State lives in the store (store.js); every change asks for a render of the
// stale parts (scheduler.js), done once per animation frame. See docs/ui.md.

import { api } from "./api.js";
import { createBanner } from "./banner.js";
import { localStorageStore, ParleyClient } from "./client.js";
import { createComposer } from "./composer.js";
import { createDetails } from "./details.js";
import { setUpDialogs } from "./dialogs.js";
import { createDrafts } from "./drafts.js";
import { composerError, confirmDialog, toast } from "./feedback.js";
import { createGroups } from "./groups.js";
import { createHeader } from "./header.js";
import { debounce } from "./debounce.js";
import { fetchFrom, fetchNewest, fetchOlder, PAGE } from "./history.js";
import { createIntegrations } from "./integrations.js";
import { messageBody, setUpMentionAutocomplete } from "./markup.js";
import { createMessageList } from "./messagelist.js";
import { createNotifications } from "./notifications.js";
import { createPeople } from "./people.js";
import { createPins } from "./pins.js";
import { setUpFeatureModules } from "./plugins.js";
import { createProtocol } from "./protocol.js";
import { createReactions } from "./reactions.js";
import { linkify } from "./render.js";
import { createScheduler } from "./scheduler.js";
import { setUpSearch } from "./search.js";
import { createSidebar } from "./sidebar.js";
import { adoptConversation, createStore, oldestSeq, resetWindow, sortedConversations, windowAround } from "./store.js";
import { setUpThemeSwitch } from "./theme-switch.js";
import { createThreads } from "./threads.js";

const $ = (id) => document.getElementById(id);

function start() {
  const body = document.body;
  const me = {
    id: Number(body.dataset.userId),
    username: body.dataset.username,
    isStaff: body.dataset.staff === "1",
  };
  const drafts = createDrafts(me.id);
  const store = createStore({ me, drafts: drafts.load() });
  // The connection and protocol layer (client.js, the JavaScript SDK): dedup, sync, and the
  // outbox, kept in localStorage so queued sends survive a reload.
  const client = new ParleyClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`,
    store: localStorageStore(`parley.outbox.${me.id}`),
  });

  const actions = {};
  const ctx = { store, client, actions, send: (frame) => client.sendFrame(frame), people: createPeople(store) };
  const scheduler = createScheduler(render);
  ctx.refresh = (...parts) => scheduler.refresh(...parts);

  // Replies and the thread panel (threads.js): row builders for the message list, and the
  // hook that keeps an open thread current.
  ctx.threads = createThreads({
    store,
    send: (conv, text, replyTo) => actions.sendMessage(conv, text, [], replyTo),
    body: (m) => messageBody(m, me, () => linkify(m.body || "")),
  });
  // The Integrations dialog, bot badges and slash commands (integrations.js).
  ctx.integrations = createIntegrations(store);
  // Pin/Unpin, the 📌 mark, "(edited)" and the "Pinned" list (pins.js); its popover is its own.
  ctx.pins = createPins({ current: () => store.current, flash });
  // The reaction bar under a message and its emoji picker (reactions.js).
  ctx.reactions = createReactions({
    react: (conv, message, emoji, on) =>
      ctx.send({ type: "react", conversation: conv.id, message: message.id, emoji, on }) ||
      flash("Not connected: the reaction was not sent."),
    nameOf: (conv, id) => (id === me.id ? "you" : conv.members.find((u) => u.id === id)?.username || `user ${id}`),
  });
  // "Browse groups", and a group's visibility and invite link in its details (groups.js).
  ctx.groups = createGroups({
    adopt: (summary) => {
      const conv = adopt(summary);
      ctx.refresh("sidebar");
      return conv;
    },
    conversation: (id) => store.conversations.get(id),
    open: (conv) => openConversation(conv),
    flash,
    isMember: (id) => store.conversations.has(id),
  });
  const sidebar = createSidebar(ctx);
  const header = createHeader(ctx);
  const messages = createMessageList(ctx);
  const composer = createComposer(ctx);
  const details = createDetails(ctx);
  const banner = createBanner(ctx);
  const notifications = createNotifications(ctx);

  // The stale parts of the screen, once per animation frame.
  function render(parts) {
    const conv = store.current;
    if (parts.has("messages") && conv) {
      const atBottom = conv.windowEndSeq == null && messages.nearBottom();
      messages.render();
      if (atBottom) messages.scrollToBottom();
      protocol.markRead(conv);
      messages.updateJumpButton();
    } else if (parts.has("typing")) {
      messages.renderTyping();
    }
    if (parts.has("header")) header.render();
    if (parts.has("sidebar")) sidebar.render();
  }

  const protocol = createProtocol({
    store,
    client,
    threads: ctx.threads,
    integrations: ctx.integrations,
    refresh: ctx.refresh,
    ui: {
      notify: (conv, message) => notifications.notify(conv, message),
      onSystemEvent(conv, system) {
        // A membership or group change recorded as a system message: names and members current.
        if (system.event === "group_updated" && typeof system.name === "string") {
          conv.title = system.name;
          ctx.refresh("header");
        }
        if (conv === store.current && details.isOpen()) details.open();
        protocol.refreshMembers();
      },
      onLeft(conv, reason) {
        if (conv !== store.current) return;
        openConversation(null);
        flash(reason === "removed" ? `You were removed from ${conv.title}.` : `You left ${conv.title}.`);
      },
      onEditRefused(edit, why) {
        if (store.current !== edit.conv) openConversation(edit.conv);
        composer.startEditing(edit.conv, edit.message, edit.text);
        composerError(why);
      },
      onError: (detail) => toast(detail, { kind: "error" }),
      onReady() {
        composer.updateCounter();
        if (store.current && !store.conversations.has(store.current.id)) openConversation(null);
        // A link from a notification mail: /?conversation=<id> opens it once.
        const linked = Number(new URLSearchParams(location.search).get("conversation"));
        if (!store.current && store.conversations.has(linked)) {
          history.replaceState(null, "", "/");
          openConversation(store.conversations.get(linked));
        }
        if (store.current) protocol.markRead(store.current);
      },
    },
  });
  ctx.ingest = protocol.ingestMessage;

  client.on("outbox", () => {
    if (store.current) ctx.refresh("messages");
    if (!client.isReady) banner.render(client.connection.state, null);
  });
  client.on("state", (state, delay) => {
    store.online = client.isReady;
    banner.render(state, delay);
    // Pending rows say whether they wait for the connection; presence is unknown offline.
    ctx.refresh("messages", "header", "sidebar");
  });

  // --- actions that span views ----------------------------------------------------------------

  // Feature modules report through this: a toast where the user is looking.
  function flash(text) {
    toast(text, { kind: /not |could not|cannot|only /i.test(text) ? "error" : "info" });
  }

  function saveDraft(conv, text) {
    conv.draft = text;
    storeDrafts();
  }
  const storeDrafts = debounce(() => drafts.write(store.conversations.values()), 300);

  function openConversation(conv) {
    const draft = composer.draftText();
    if (store.current && draft !== null) saveDraft(store.current, draft);
    composer.stopEditing();
    composerError("");
    store.current = conv;
    messages.clear();
    details.close();
    ctx.pins.pinsFor(conv);
    const writable = composer.show(conv);
    header.render();
    if (!conv) {
      messages.render();
      ctx.refresh("sidebar");
      document.dispatchEvent(new CustomEvent("parley:conversation-opened", { detail: null }));
      return;
    }
    conv.historyStatus = "";
    // "New messages" above the first unread, for as long as the conversation stays open.
    conv.dividerSeq = conv.unread > 0 ? conv.readSeq : null;
    resetWindow(conv);
    messages.render();
    messages.scrollToBottom();
    if (!conv.historyLoaded) loadNewest(conv);
    else {
      messages.scrollToDivider();
      protocol.markRead(conv);
    }
    ctx.refresh("sidebar");
    if (writable) composer.focus();
    document.dispatchEvent(new CustomEvent("parley:conversation-opened", { detail: { id: conv.id, kind: conv.kind } }));
  }

  async function loadNewest(conv) {
    if (conv.dividerSeq !== null && conv.lastSeq - conv.dividerSeq > PAGE) {
      // More unread than one page: load from the first unread on, and open there.
      if (await fetchFrom(ctx, conv, conv.dividerSeq + 1)) {
        if (conv === store.current) {
          messages.render();
          messages.scrollToDivider();
          protocol.markRead(conv);
        }
      } else if (conv === store.current) messages.render();
      return;
    }
    conv.historyStatus = "Loading messages…";
    if (conv === store.current) messages.render();
    const loaded = await fetchNewest(ctx, conv);
    if (conv !== store.current) return;
    messages.render();
    if (!loaded) return;
    messages.scrollToDivider();
    protocol.markRead(conv);
    fillViewport(conv);
  }

  async function loadOlder(conv) {
    if (!conv.hasOlder || conv.loadingOlder) return;
    const oldest = oldestSeq(conv);
    if (oldest === null) return;
    conv.historyStatus = "Loading earlier messages…";
    messages.render();
    const position = messages.scrollPosition();
    await fetchOlder(ctx, conv, oldest);
    if (conv !== store.current) return;
    messages.render();
    // Keep the messages the reader was looking at where they were.
    messages.restoreScroll(position);
    fillViewport(conv);
  }

  function fillViewport(conv) {
    if (conv === store.current && conv.hasOlder && messages.fitsWithoutScrolling()) loadOlder(conv);
  }

  function sendMessage(conv, text, attachments = [], replyTo = ctx.threads.takeReplyTarget(conv)) {
    client.send(conv.id, text, { attachments, replyTo });
    protocol.changed(conv);
  }

  async function deleteMessage(conv, message) {
    if (!store.features.edit) return;
    const sure = await confirmDialog({
      title: "Delete this message?",
      text: "It is deleted for everyone in the conversation.",
      confirm: "Delete",
    });
    if (!sure) return;
    if (!ctx.send({ type: "delete", conversation: conv.id, id: message.id })) {
      toast("Not connected: the message was not deleted. Try again when the connection is back.", { kind: "error" });
    }
  }

  // A conversation the REST API just answered with: known from now on, even before the socket
  // tells us.
  function adopt(summary) {
    const conv = adoptConversation(store, summary);
    protocol.loadPresence();
    return conv;
  }

  // The conversations with unread messages, in sidebar order; Alt+Up/Down walk through them.
  function goToUnread(step) {
    const order = sortedConversations(store);
    const at = store.current ? order.indexOf(store.current) : -1;
    for (let i = 1; i <= order.length; i += 1) {
      const conv = order[(at + step * i + order.length * 2) % order.length];
      if (conv !== store.current && conv.unread > 0) {
        openConversation(conv);
        return;
      }
    }
    toast("No other conversation has unread messages.");
  }

  function markAllRead() {
    if (!protocol.markAllRead()) {
      toast("Not connected: marked read here only after the connection is back.", { kind: "error" });
    }
  }

  // Search: opening a conversation at a found message (the search UI is search.js).
  async function openConversationAt(conversationId, message) {
    const conv = store.conversations.get(conversationId);
    if (!conv) {
      flash("That conversation is no longer in your list.");
      return false;
    }
    const missing = !conv.messages.has(message.seq);
    // Not through loadNewest: it would scroll to the bottom when it lands.
    const wasLoaded = conv.historyLoaded;
    conv.historyLoaded = true;
    if (store.current !== conv) openConversation(conv);
    conv.historyLoaded = wasLoaded;
    if ((missing || !wasLoaded) && !(await fetchFrom(ctx, conv, message.seq))) {
      if (conv === store.current) messages.render();
      return false;
    }
    if (conv !== store.current) return false;
    windowAround(conv, message.seq);
    messages.render();
    protocol.markRead(conv);
    return messages.showMessage(message.seq);
  }

  Object.assign(actions, {
    openConversation,
    sendMessage,
    deleteMessage,
    adopt,
    saveDraft,
    markAllRead,
    startEditing: (conv, message) => composer.startEditing(conv, message),
    retry: (conv, cid) => {
      client.retry(cid);
      protocol.changed(conv);
    },
    discard: (cid) => client.discard(cid),
    loadReceipts: (conv) => protocol.loadReceipts(conv),
    scrollToBottom: () => messages.scrollToBottom(),
  });

  // --- page-wide events -------------------------------------------------------------------------

  $("history").addEventListener("scroll", () => {
    const conv = store.current;
    if (conv && messages.isScrolledNearTop() && !messages.slide(conv, -1)) loadOlder(conv);
    else if (conv && messages.nearBottom()) messages.slide(conv, 1);
    messages.updateJumpButton();
  });
  $("back-button").addEventListener("click", () => {
    const id = store.current && store.current.id;
    openConversation(null);
    sidebar.focusConversation(id);
  });
  $("jump-latest").addEventListener("click", () => {
    messages.jumpToLatest();
    composer.focus();
  });
  document.addEventListener("visibilitychange", () => protocol.markRead(store.current));
  window.addEventListener("focus", () => protocol.markRead(store.current));
  document.addEventListener("keydown", (event) => {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      goToUnread(event.key === "ArrowUp" ? -1 : 1);
    }
  });
  setInterval(() => store.current && ctx.refresh("typing"), 1000);
  // Times like "5 min ago" and the edit window move on by themselves.
  setInterval(() => store.current && ctx.refresh("messages", "header"), 30000);

  // Leaving while sends wait: the browser asks first (they are kept and go out on the next
  // visit, but the user should know they have not gone yet).
  window.addEventListener("beforeunload", (event) => {
    const draft = composer.draftText();
    if (store.current && draft !== null) store.current.draft = draft;
    drafts.write(store.conversations.values());
    if (client.pending().some((entry) => entry.status === "pending")) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- views of the feature modules -------------------------------------------------------------

  setUpDialogs(ctx);
  setUpThemeSwitch();
  setUpSearch({
    conversationList: () => [...store.conversations.values()],
    currentConversation: () => store.current,
    openAt: openConversationAt,
  });
  setUpMentionAutocomplete($("composer"), $("composer-input"), () => store.current?.members, me);
  setUpFeatureModules({ client, api, toast, confirmDialog, currentConversation: () => store.current });

  header.render();
  composer.show(null);
  client.start();
}

start();
