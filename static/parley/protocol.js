// The protocol layer: frames from the SDK (client.js: the socket, dedup, sync, the outbox) go
// into the store, and the frames this page sends (delivered, read, changes) go out. No DOM:
// each change ends in `ctx.refresh(part…)` (one render per animation frame, scheduler.js) and
// what the user must be told goes through `ctx.ui` (views, toasts).
//
// ctx: {store, client, threads (threads.js), integrations (integrations.js: command answers,
//       webhook notices), refresh(...parts), ui: {notify, onSystemEvent, onLeft, onEditRefused,
//       onError, onReady, onUserUpdated}}

import { api } from "./api.js";
import { debounce } from "./debounce.js";
import { applyPreview } from "./previews.js";
import { applyReaction } from "./reactions.js";
import {
  adoptConversation,
  applyConversationChange,
  applyMembers,
  applyMessageChanged,
  applyPresence,
  applyReady,
  applyReceipt,
  applyTyping,
  directPartner,
  ingest,
  isMine,
  onlyMineSince,
  rememberPeople,
  TYPING_SHOWN_MS,
} from "./store.js";

export function createProtocol(ctx) {
  const { store, client } = ctx;
  const { onCommandError, onEphemeral, onWebhookDisabled } = ctx.integrations;
  const send = (frame) => client.sendFrame(frame);

  // A conversation's state changed: its row in the sidebar, and the list when it is open.
  function changed(conv) {
    if (!conv) return;
    if (conv === store.current) ctx.refresh("sidebar", "messages");
    else ctx.refresh("sidebar");
  }

  // The store's ingest plus what a new message from someone else calls for.
  function ingestMessage(conv, message, { live = false } = {}) {
    const result = ingest(store, conv, message, { live });
    if (result.isNew && !isMine(store, message)) scheduleDelivered(conv);
    if (result.notify) ctx.ui.notify(conv, message);
    if (result.isNew && message.system && live) ctx.ui.onSystemEvent(conv, message.system);
    return result;
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "ready":
        return undefined; // the SDK's "ready" event (onReady)
      case "webhook_disabled":
        return onWebhookDisabled(frame);
      case "ephemeral":
        return onEphemeral(frame);
      case "command_done":
        return undefined;
      case "conversation":
        return onConversation(frame.conversation);
      case "error":
        return onCommandError(frame) || onError(frame);
      case "receipt":
        return onReceipt(frame);
      case "presence":
        applyPresence(store, [[frame.user, frame]]);
        return ctx.refresh("sidebar", "header");
      case "typing":
        return onTyping(frame);
      case "message_updated":
        return changed(applyMessageChanged(store, frame, false));
      case "message_deleted":
        return changed(applyMessageChanged(store, frame, true));
      case "changes_done":
        return onChangesDone(frame);
      case "reaction":
        return onConversationChange(frame, (m) => applyReaction(m, frame, store.me));
      case "pins":
        return onConversationChange(frame, (m) => ({ ...m, pinned: frame.pinned }));
      case "thread_updated":
        return onConversationChange(frame, (m) => ({ ...m, thread_summary: frame.thread_summary }));
      case "conversation_left":
        return onConversationLeft(frame);
      case "preview":
        return changed(applyPreview(store.conversations, frame));
      case "user_updated":
        rememberPeople(store, [frame.user]);
        return ctx.refresh("sidebar", "header", "messages");
      default:
        return undefined; // frames this client does not know are ignored
    }
  }

  function onReady(frame) {
    store.online = true;
    rememberPeople(store, frame.users);
    for (const conv of applyReady(store, frame)) requestChanges(conv, conv.changeSeq);
    ctx.ui.onReady();
    ctx.refresh("sidebar", "header", "messages");
    loadMembers();
  }

  function onConversation(summary) {
    if (store.conversations.has(summary.id)) return;
    adoptConversation(store, summary);
    ctx.refresh("sidebar");
    loadMembers();
  }

  // Messages come deduplicated and gap-free from the SDK; `live` is false for those a sync
  // brought.
  function onMessage(message, { live }) {
    const conv = store.conversations.get(message.conversation);
    if (!conv) return;
    ingestMessage(conv, message, { live });
    ctx.threads.threadMessage(message);
    changed(conv);
  }

  function onAck(ack, pending) {
    const conv = store.conversations.get(ack.conversation);
    if (!conv) return;
    if (!conv.messages.has(ack.seq)) {
      ingestMessage(conv, {
        type: "message",
        conversation: ack.conversation,
        id: ack.id,
        seq: ack.seq,
        sender: { id: store.me.id, username: store.me.username },
        client_msg_id: ack.client_msg_id,
        body: pending.body,
        attachments: pending.attachments,
        created_at: ack.created_at,
      });
    }
    changed(conv);
  }

  // Errors the SDK did not tie to a queued send: a refused edit (its text goes back into the
  // composer with the reason next to it), or anything else.
  function onError(frame) {
    const detail = String(frame.detail || frame.code || "Something went wrong");
    const edit = frame.ref && store.editsInFlight.get(frame.ref);
    if (edit) {
      store.editsInFlight.delete(frame.ref);
      const why =
        frame.code === "edit_window_closed"
          ? "This message can no longer be edited: the edit window has passed."
          : `The edit was not saved: ${detail}`;
      ctx.ui.onEditRefused(edit, why);
      return;
    }
    ctx.ui.onError(detail);
  }

  function onReceipt(frame) {
    const conv = applyReceipt(store, frame);
    if (!conv) return;
    if (frame.user === store.me.id) changed(conv);
    else if (conv === store.current) ctx.refresh("messages");
  }

  function onTyping(frame) {
    const conv = applyTyping(store, frame);
    if (!conv || conv !== store.current) return;
    ctx.refresh("typing");
    setTimeout(() => conv === store.current && ctx.refresh("typing"), TYPING_SHOWN_MS + 50);
  }

  function onConversationChange(frame, update) {
    const message = applyConversationChange(store, frame, update);
    if (!message) return;
    ctx.threads.threadMessage(message);
    changed(store.conversations.get(frame.conversation));
  }

  function onConversationLeft(frame) {
    const conv = store.conversations.get(frame.conversation);
    if (!conv) return;
    store.conversations.delete(conv.id);
    ctx.ui.onLeft(conv, frame.reason);
    ctx.refresh("sidebar");
  }

  // --- edits and deletes after a reconnect ------------------------------------------------

  function requestChanges(conv, afterChangeSeq) {
    if (!store.features.changes || conv.changing) return;
    if (send({ type: "changes", conversation: conv.id, after_change_seq: afterChangeSeq })) {
      conv.changing = true;
    }
  }

  function onChangesDone(frame) {
    const conv = store.conversations.get(frame.conversation);
    if (!conv) return;
    conv.changing = false;
    conv.changeSeq = Math.max(conv.changeSeq, frame.last_change_seq || 0);
    if (frame.has_more) requestChanges(conv, conv.changeSeq);
  }

  // --- receipts we send ---------------------------------------------------------------------

  function scheduleDelivered(conv) {
    if (!store.features.receipts || conv.deliveredTimer) return;
    conv.deliveredTimer = setTimeout(() => {
      conv.deliveredTimer = null;
      const seq = conv.lastSeq;
      if (seq > conv.deliveredSent && store.features.receipts) {
        if (send({ type: "delivered", conversation: conv.id, seq })) conv.deliveredSent = seq;
      }
    }, 300);
  }

  // The open conversation is read up to its newest message, when the page is really seen.
  function markRead(conv) {
    if (!conv || conv !== store.current || !pageIsSeen()) return;
    const hadUnread = conv.unread || conv.unreadMentions;
    conv.unread = 0;
    conv.unreadMentions = 0;
    const seq = conv.lastSeq;
    if (seq > conv.readSeq) {
      if (!store.features.receipts || onlyMineSince(store, conv, conv.readSeq)) {
        // Nothing from others to mark: no read frame (and no receipt fan-out) for my own sends.
        conv.readSeq = seq;
      } else if (send({ type: "read", conversation: conv.id, seq })) {
        conv.readSeq = seq;
        conv.deliveredSent = Math.max(conv.deliveredSent, seq);
      }
    }
    if (hadUnread) ctx.refresh("sidebar");
  }

  // Returns false when something could not be marked because we are offline.
  function markAllRead() {
    let any = false;
    for (const conv of store.conversations.values()) {
      if (!conv.unread && conv.readSeq >= conv.lastSeq) continue;
      any = true;
      if (send({ type: "read", conversation: conv.id, seq: conv.lastSeq })) {
        conv.readSeq = conv.lastSeq;
        conv.unread = 0;
        conv.unreadMentions = 0;
      }
    }
    ctx.refresh("sidebar");
    return !(any && !client.isReady);
  }

  // --- members and presence (REST) ----------------------------------------------------------

  // Every member's receipt cursors in a group (GET /api/groups/<id>/members/): the receipts
  // sent before this page opened, so "Seen by" can name those readers too.
  async function loadReceipts(conv) {
    let members;
    try {
      members = await api("GET", `/api/groups/${conv.id}/members/`);
    } catch {
      return; // the popover keeps what the live receipts told
    }
    for (const m of Array.isArray(members) ? members : []) {
      const user = m.user && m.user.id;
      if (!user || user === store.me.id || m.read_seq == null) continue;
      applyReceipt(store, { conversation: conv.id, user, delivered_seq: m.delivered_seq, read_seq: m.read_seq });
    }
    if (conv === store.current) ctx.refresh("messages");
  }

  async function loadMembers() {
    // Members (for presence dots and group panels); previews come with the summaries.
    try {
      applyMembers(store, await api("GET", "/api/conversations/"));
    } catch {
      /* the sidebar still works without member lists */
    }
    ctx.refresh("sidebar", "header");
    loadPresence();
  }

  // After a membership change: names and member counts current, at most once per 300 ms.
  const refreshMembers = debounce(async () => {
    try {
      applyMembers(store, await api("GET", "/api/conversations/"));
      ctx.refresh("header");
    } catch {
      /* members stay as they were */
    }
  }, 300);

  async function loadPresence() {
    const ids = [...store.conversations.values()].map((conv) => directPartner(store, conv)).filter(Boolean).map((m) => m.id);
    if (!ids.length) return;
    let answer;
    try {
      answer = await api("GET", `/api/presence/?users=${[...new Set(ids)].join(",")}`);
    } catch {
      return; // no presence on this server: no dots
    }
    const rows = Array.isArray(answer) ? answer : answer.results || answer.users || [];
    const found = [];
    if (Array.isArray(rows)) {
      for (const row of rows) {
        const user = typeof row.user === "object" ? row.user.id : row.user ?? row.id;
        if (user) found.push([Number(user), row]);
      }
    } else if (answer && typeof answer === "object") {
      for (const [user, row] of Object.entries(answer)) if (row && row.status) found.push([Number(user), row]);
    }
    applyPresence(store, found);
    ctx.refresh("sidebar", "header");
  }

  client.on("frame", handleFrame);
  client.on("ready", onReady);
  client.on("message", onMessage);
  client.on("ack", onAck);
  client.on("failed", (entry) => changed(store.conversations.get(entry.conversation)));
  client.on("synced", (id) => changed(store.conversations.get(id)));

  return {
    send,
    ingestMessage,
    markRead,
    markAllRead,
    loadPresence,
    loadReceipts,
    refreshMembers,
    changed,
  };
}

function pageIsSeen() {
  return document.visibilityState === "visible" && document.hasFocus();
}
