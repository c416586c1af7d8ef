// Parley browser client. State lives in `conversations`; the DOM is rebuilt from it.
// Message bodies and every other piece of user data go into the page as text nodes only.

import { api, ApiError } from "./api.js";
import { attachmentsNode, setUpAttachments } from "./attachments.js";
import { applyPreview, previewsNode } from "./previews.js";
import { localStorageStore, ParleyClient } from "./client.js";
import { avatarOf, displayName, personVersion, rememberPeople, showUserCard } from "./people.js";
import { dayKey, dayLabel, el, linkify, relativeTime, timeOf } from "./render.js";
import { composerError, confirmDialog, toast } from "./feedback.js";
import { setUpFeatureModules } from "./plugins.js";
import { setUpSearch } from "./search.js";
// Settings › Integrations, and slash commands in the composer.
import {
  botBadge,
  isCommand,
  onCommandError,
  onEphemeral,
  onWebhookDisabled,
  runCommand,
  suggestCommands,
} from "./integrations.js";
import { mentionsMe, messageBody, setUpMentionAutocomplete } from "./markup.js";
import { applyReaction, reactionBar, setUpReactions } from "./reactions.js";
import { renderGroupExtras, setUpGroups } from "./groups.js";
import { editedMark, pinAction, pinMark, pinsFor, setUpPins } from "./pins.js";
import { replyButton, replyQuote, setUpThreads, takeReplyTarget, threadButton, threadMessage } from "./threads.js";

const PAGE = 50;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 4000;

const $ = (id) => document.getElementById(id);
const body = document.body;
const me = {
  id: Number(body.dataset.userId),
  username: body.dataset.username,
  isStaff: body.dataset.staff === "1",
};

// What the server offers: its `ready` frame's `features` (docs/protocol.md). Until the first
// ready, assume the basics.
let supported = { receipts: true, typing: true, edit: true, changes: true, edit_window_seconds: 900, max_body_chars: 4000 };

const conversations = new Map(); // id -> conversation state
const presence = new Map(); // user id -> {status, last_seen}
let current = null; // the open conversation
let editing = null; // the message being edited
const editsInFlight = new Map(); // ref (client_msg_id of the edit frame) -> {conv, message, text}
let lastTypingSent = 0;

// The connection and protocol layer (client.js, the JavaScript SDK): dedup, sync, and the
// outbox, kept in localStorage so queued sends survive a reload.
const client = new ParleyClient({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`,
  store: localStorageStore(`parley.outbox.${me.id}`),
});
const conn = {
  send: (frame) => client.sendFrame(frame),
  get isReady() {
    return client.isReady;
  },
};
client.on("frame", handleFrame);
client.on("ready", onReady);
client.on("message", onMessage);
client.on("ack", onAck);
client.on("failed", (entry) => refresh(conversations.get(entry.conversation)));
client.on("outbox", () => {
  if (current) refresh(current);
  if (!client.isReady) showConnectionState(client.connection.state, null);
});
client.on("synced", (id) => refresh(conversations.get(id)));
client.on("state", showConnectionState);

// --- conversation state ------------------------------------------------------------------

function conversationFrom(summary, rank) {
  return {
    id: summary.id,
    kind: summary.kind,
    title: summary.title,
    members: summary.members || [],
    lastSeq: summary.last_seq,
    readSeq: summary.read_seq,
    unread: summary.unread,
    unreadMentions: summary.unread_mentions || 0,
    // Edits and deletes are numbered per conversation too; after a reconnect the client asks
    // for the changes after the last one it saw.
    changeSeq: summary.last_change_seq || 0,
    changing: false,
    messages: new Map(), // seq -> message
    historyLoaded: false,
    hasOlder: false,
    loadingOlder: false,
    receipts: new Map(), // user id -> {delivered_seq, read_seq}
    typing: new Map(), // user id -> {username, until}
    preview: summary.last_message || null,
    activity: summary.last_message ? Date.parse(summary.last_message.created_at) || 0 : 0,
    rank,
    draft: savedDrafts[summary.id] || "",
    dividerSeq: null, // the "New messages" divider goes above the first message after this
    deliveredSent: 0,
    deliveredTimer: null,
  };
}

function isMine(message) {
  return Boolean(message.sender && message.sender.id === me.id);
}

function oldestSeq(conv) {
  let low = Infinity;
  for (const seq of conv.messages.keys()) low = Math.min(low, seq);
  return low === Infinity ? null : low;
}

function newestSeq(conv) {
  let high = 0;
  for (const seq of conv.messages.keys()) high = Math.max(high, seq);
  return high;
}

// Takes a message (live, synced or from history). Returns true when it was new.
function ingest(conv, message, { live = false } = {}) {
  const known = conv.messages.get(message.seq);
  if (known) {
    // Same seq again: a duplicate, or the current state of an edited/deleted message.
    if (sameContent(known, message)) return false;
    const merged = { ...known, ...message };
    // Receipt counts record facts (members who left still count): an answer computed before
    // a later one never lowers what is shown.
    for (const key of ["read_count", "delivered_count"]) {
      if (known[key] != null && message[key] != null) merged[key] = Math.max(known[key], message[key]);
    }
    conv.messages.set(message.seq, merged);
    return false;
  }
  conv.messages.set(message.seq, message);
  if (message.sender) conv.typing.delete(message.sender.id);
  if (message.seq > conv.lastSeq) {
    conv.lastSeq = message.seq;
    if (!isMine(message)) {
      conv.unread += 1;
      if (mentionsMe(message, me)) conv.unreadMentions += 1;
      if (live) notify(conv, message);
    }
  }
  if (!conv.preview || message.seq >= conv.preview.seq) {
    conv.preview = message;
    conv.activity = Date.parse(message.created_at) || Date.now();
  }
  if (!isMine(message)) scheduleDelivered(conv);
  if (message.system && live) onSystemEvent(conv, message.system);
  return true;
}

// A membership or group change recorded as a system message: keep names and members current.
function onSystemEvent(conv, system) {
  if (system.event === "group_updated" && typeof system.name === "string") {
    conv.title = system.name;
    if (conv === current) renderHeader();
  }
  if (conv === current && !$("details").hidden) openDetails();
  refreshMembers();
}

const refreshMembers = debounce(async () => {
  try {
    for (const summary of await api("GET", "/api/conversations/")) {
      const conv = conversations.get(summary.id);
      if (conv && summary.members) conv.members = summary.members;
    }
    if (current) renderHeader();
  } catch {
    /* members stay as they were */
  }
}, 300);

function sameContent(a, b) {
  return (
    a.body === b.body &&
    Boolean(a.deleted) === Boolean(b.deleted) &&
    (a.edited_at || null) === (b.edited_at || null) &&
    (a.status || null) === (b.status || null) &&
    (a.read_count ?? null) === (b.read_count ?? null) &&
    (a.delivered_count ?? null) === (b.delivered_count ?? null)
  );
}

// --- frames ------------------------------------------------------------------------------

function handleFrame(frame) {
  switch (frame.type) {
    case "ready":
      return onReady(frame);
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
      return onPresence(frame);
    case "typing":
      return onTyping(frame);
    case "message_updated":
      return onMessageChanged(frame, false);
    case "message_deleted":
      return onMessageChanged(frame, true);
    case "changes_done":
      return onChangesDone(frame);
    case "reaction":
      return onConversationChange(frame, (m) => applyReaction(m, frame, me));
    case "pins":
      return onConversationChange(frame, (m) => ({ ...m, pinned: frame.pinned }));
    case "thread_updated":
      return onConversationChange(frame, (m) => ({ ...m, thread_summary: frame.thread_summary }));
    case "conversation_left":
      return onConversationLeft(frame);
    case "preview": {
      const conv = applyPreview(conversations, frame);
      return conv ? refresh(conv) : undefined;
    }
    case "user_updated":
      rememberPeople([frame.user]);
      renderSidebar();
      if (current) renderHeader();
      return current && renderMessages();
    default:
      return undefined; // frames this client does not know are ignored
  }
}

function onReady(frame) {
  if (frame.features) supported = { ...supported, ...frame.features };
  applyLimits();
  rememberPeople(frame.users);
  const seen = new Set();
  frame.conversations.forEach((summary, rank) => {
    seen.add(summary.id);
    let conv = conversations.get(summary.id);
    if (!conv) {
      conv = conversationFrom(summary, rank);
      conversations.set(conv.id, conv);
    } else {
      conv.rank = rank;
      conv.title = summary.title;
      if (summary.read_seq >= conv.readSeq) {
        // The server's counts are the truth; what sync brings now is already counted.
        conv.readSeq = summary.read_seq;
        conv.unread = summary.unread;
        conv.unreadMentions = summary.unread_mentions || 0;
        conv.lastSeq = Math.max(conv.lastSeq, summary.last_seq);
      }
      // Otherwise the server has not stored our last read mark: keep our counts and let sync
      // count what is new.
      if ((summary.last_change_seq || 0) > conv.changeSeq) requestChanges(conv, conv.changeSeq);
      const last = summary.last_message;
      if (last && (!conv.preview || last.seq >= conv.preview.seq)) {
        conv.preview = last;
        conv.activity = Date.parse(last.created_at) || conv.activity;
      }
    }
  });
  for (const id of [...conversations.keys()]) {
    if (!seen.has(id)) conversations.delete(id); // we left or were removed meanwhile
  }
  if (current && !conversations.has(current.id)) openConversation(null);
  renderSidebar();
  loadDetailsOfAll();
  // A link from a notification mail: /?conversation=<id> opens it once.
  const linked = Number(new URLSearchParams(location.search).get("conversation"));
  if (!current && conversations.has(linked)) {
    history.replaceState(null, "", "/");
    openConversation(conversations.get(linked));
  }
  if (current) {
    markRead(current);
    renderMessages();
  }
}

async function loadDetailsOfAll() {
  // Members (for presence dots and group panels); previews come with the summaries.
  try {
    const summaries = await api("GET", "/api/conversations/");
    for (const summary of summaries) {
      const conv = conversations.get(summary.id);
      if (conv && summary.members) conv.members = summary.members;
    }
  } catch {
    /* the sidebar still works without member lists */
  }
  renderSidebar();
  loadPresence();
}

function requestChanges(conv, afterChangeSeq) {
  if (!supported.changes || conv.changing) return;
  if (conn.send({ type: "changes", conversation: conv.id, after_change_seq: afterChangeSeq })) {
    conv.changing = true;
  }
}

function onChangesDone(frame) {
  const conv = conversations.get(frame.conversation);
  if (!conv) return;
  conv.changing = false;
  conv.changeSeq = Math.max(conv.changeSeq, frame.last_change_seq || 0);
  if (frame.has_more) requestChanges(conv, conv.changeSeq);
}

function onConversationLeft(frame) {
  const conv = conversations.get(frame.conversation);
  if (!conv) return;
  conversations.delete(conv.id);
  if (conv === current) {
    openConversation(null);
    flash(
      frame.reason === "removed"
        ? `You were removed from ${conv.title}.`
        : `You left ${conv.title}.`,
    );
  }
  renderSidebar();
}

// Messages come deduplicated and gap-free from the SDK (client.js); `live` is false for those a
// sync brought.
function onMessage(message, { live }) {
  const conv = conversations.get(message.conversation);
  if (!conv) return;
  ingest(conv, message, { live });
  threadMessage(message);
  refresh(conv);
}

function onAck(ack, pending) {
  const conv = conversations.get(ack.conversation);
  if (!conv) return;
  if (!conv.messages.has(ack.seq)) {
    ingest(conv, {
      type: "message",
      conversation: ack.conversation,
      id: ack.id,
      seq: ack.seq,
      sender: { id: me.id, username: me.username },
      client_msg_id: ack.client_msg_id,
      body: pending.body,
      attachments: pending.attachments,
      created_at: ack.created_at,
    });
  }
  refresh(conv);
}

function onConversation(summary) {
  if (conversations.has(summary.id)) return;
  const conv = conversationFrom(summary, -1);
  conv.activity = Date.now();
  conversations.set(conv.id, conv);
  renderSidebar();
  loadDetailsOfAll();
}

// Errors the SDK did not tie to a queued send: a refused edit (its text goes back into the
// composer with the reason next to it), or anything else (a toast).
function onError(frame) {
  const detail = String(frame.detail || frame.code || "Something went wrong");
  const edit = frame.ref && editsInFlight.get(frame.ref);
  if (edit) {
    editsInFlight.delete(frame.ref);
    const why =
      frame.code === "edit_window_closed"
        ? "This message can no longer be edited: the edit window has passed."
        : `The edit was not saved: ${detail}`;
    if (current !== edit.conv) openConversation(edit.conv);
    startEditing(edit.conv, edit.message, edit.text);
    composerError(why);
    return;
  }
  toast(detail, { kind: "error" });
}

function onReceipt(frame) {
  const conv = conversations.get(frame.conversation);
  if (!conv) return;
  if (frame.user === me.id) {
    // Read on another device of mine: clear the badge here too.
    if (frame.read_seq > conv.readSeq) {
      conv.readSeq = frame.read_seq;
      let unread = 0;
      for (const m of conv.messages.values()) {
        if (m.seq > conv.readSeq && !isMine(m)) unread += 1;
      }
      conv.unread = Math.min(conv.unread, unread);
      if (conv.readSeq >= conv.lastSeq) conv.unread = 0;
      refresh(conv);
    }
    return;
  }
  const before = conv.receipts.get(frame.user) || { delivered_seq: 0, read_seq: 0 };
  conv.receipts.set(frame.user, {
    delivered_seq: Math.max(before.delivered_seq, frame.delivered_seq || 0),
    read_seq: Math.max(before.read_seq, frame.read_seq || 0),
  });
  if (conv === current) renderMessages();
}

function onPresence(frame) {
  presence.set(frame.user, { status: frame.status, last_seen: frame.last_seen });
  renderSidebar();
  if (current) renderHeader();
}

function onTyping(frame) {
  const conv = conversations.get(frame.conversation);
  if (!conv || frame.user === me.id) return;
  const member = conv.members.find((m) => m.id === frame.user);
  const name = member ? member.username : frame.username || "Someone";
  conv.typing.set(frame.user, { username: name, until: Date.now() + TYPING_SHOWN_MS });
  if (conv === current) renderTyping();
  setTimeout(() => conv === current && renderTyping(), TYPING_SHOWN_MS + 50);
}

function onMessageChanged(frame, deleted) {
  const conv = conversations.get(frame.conversation);
  if (!conv) return;
  if (frame.change_seq) conv.changeSeq = Math.max(conv.changeSeq, frame.change_seq);
  const source = frame.message && typeof frame.message === "object" ? frame.message : frame;
  const id = String(source.id ?? frame.id);
  for (const [seq, message] of conv.messages) {
    if (String(message.id) === id || (source.seq && seq === source.seq)) {
      const updated = { ...message, ...source, type: "message" };
      updated.conversation = conv.id;
      if (deleted) {
        updated.deleted = true;
        updated.body = null;
      } else if (!updated.edited_at) {
        updated.edited_at = frame.edited_at || new Date().toISOString();
      }
      conv.messages.set(seq, updated);
      for (const [ref, edit] of editsInFlight) if (String(edit.message.id) === id) editsInFlight.delete(ref);
      if (conv.preview && conv.preview.seq === seq) conv.preview = updated;
      refresh(conv);
      return;
    }
  }
}

// thread_updated, reaction, pins: numbered in the change cursor like edits; `update` gives
// the new state of the message concerned (frame.id or frame.message).
function onConversationChange(frame, update) {
  const conv = conversations.get(frame.conversation);
  if (!conv) return;
  if (frame.change_seq) conv.changeSeq = Math.max(conv.changeSeq, frame.change_seq);
  const id = String(frame.message ?? frame.id);
  for (const [seq, message] of conv.messages) {
    if (String(message.id) === id) {
      conv.messages.set(seq, update(message));
      threadMessage(conv.messages.get(seq));
      refresh(conv);
      return;
    }
  }
}

// --- receipts -------------------------------------------------------------------------------

function scheduleDelivered(conv) {
  if (!supported.receipts || conv.deliveredTimer) return;
  conv.deliveredTimer = setTimeout(() => {
    conv.deliveredTimer = null;
    const seq = conv.lastSeq;
    if (seq > conv.deliveredSent && supported.receipts) {
      if (conn.send({ type: "delivered", conversation: conv.id, seq })) conv.deliveredSent = seq;
    }
  }, 300);
}

function pageIsSeen() {
  return document.visibilityState === "visible" && document.hasFocus();
}

function markRead(conv) {
  if (!conv || conv !== current || !pageIsSeen()) return;
  conv.unread = 0;
  conv.unreadMentions = 0;
  const seq = conv.lastSeq;
  if (seq > conv.readSeq) {
    if (!supported.receipts || onlyMineSince(conv, conv.readSeq)) {
      // Nothing from others to mark: no read frame (and no receipt fan-out) for my own sends.
      conv.readSeq = seq;
    } else if (conn.send({ type: "read", conversation: conv.id, seq })) {
      conv.readSeq = seq;
      conv.deliveredSent = Math.max(conv.deliveredSent, seq);
    }
  }
  renderSidebar();
}

function onlyMineSince(conv, seq) {
  for (let s = seq + 1; s <= conv.lastSeq; s += 1) {
    const message = conv.messages.get(s);
    if (!message || !isMine(message)) return false;
  }
  return true;
}

// The mark shown under one of my messages: sent, delivered or read, by direct-chat status, by
// group counts, and by receipts received since.
function markOf(conv, message) {
  const others = [...conv.receipts.values()];
  if (conv.kind === "direct") {
    const rank = { sent: 0, delivered: 1, read: 2 };
    let state = rank[message.status] ?? 0;
    for (const r of others) {
      if (r.read_seq >= message.seq) state = Math.max(state, 2);
      else if (r.delivered_seq >= message.seq) state = Math.max(state, 1);
    }
    return ["sent", "delivered", "read"][state];
  }
  const read = Math.max(message.read_count || 0, others.filter((r) => r.read_seq >= message.seq).length);
  const delivered = Math.max(
    message.delivered_count || 0,
    others.filter((r) => r.delivered_seq >= message.seq).length,
    read,
  );
  if (read) return `read by ${read}`;
  if (delivered) return `delivered to ${delivered}`;
  return "sent";
}

// --- presence -------------------------------------------------------------------------------

function directPartner(conv) {
  if (conv.kind !== "direct") return null;
  return conv.members.find((m) => m.id !== me.id) || null;
}

async function loadPresence() {
  const ids = [...conversations.values()].map(directPartner).filter(Boolean).map((m) => m.id);
  if (!ids.length) return;
  let answer;
  try {
    answer = await api("GET", `/api/presence/?users=${[...new Set(ids)].join(",")}`);
  } catch {
    return; // no presence on this server: no dots
  }
  const rows = Array.isArray(answer) ? answer : answer.results || answer.users || [];
  if (Array.isArray(rows)) {
    for (const row of rows) {
      const user = typeof row.user === "object" ? row.user.id : row.user ?? row.id;
      if (user) presence.set(Number(user), { status: row.status, last_seen: row.last_seen });
    }
  } else if (answer && typeof answer === "object") {
    for (const [user, row] of Object.entries(answer)) {
      if (row && row.status) presence.set(Number(user), row);
    }
  }
  renderSidebar();
  if (current) renderHeader();
}

// --- sending --------------------------------------------------------------------------------

function sendMessage(conv, text, attachments = [], replyTo = takeReplyTarget(conv)) {
  client.send(conv.id, text, { attachments, replyTo });
  refresh(conv);
}

function retry(conv, cid) {
  client.retry(cid);
  refresh(conv);
}

function sendTyping() {
  if (!current || !supported.typing || current.kind === "announcement") return;
  const now = Date.now();
  if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (conn.send({ type: "typing", conversation: current.id })) lastTypingSent = now;
}

// --- history --------------------------------------------------------------------------------

async function loadNewest(conv) {
  if (conv.dividerSeq !== null && conv.lastSeq - conv.dividerSeq > PAGE) {
    // More unread than one page: load from the first unread on, and open there.
    if (await loadFrom(conv, conv.dividerSeq + 1)) {
      if (conv === current) {
        renderMessages();
        scrollToDivider(conv);
        markRead(conv);
      }
    }
    return;
  }
  setHistoryStatus("Loading messages…");
  try {
    const page = await api("GET", `/api/conversations/${conv.id}/messages/?limit=${PAGE}`);
    for (const message of page.results) ingest(conv, message);
    conv.historyLoaded = true;
    conv.hasOlder = page.has_more;
    conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
    // The newest page: sync (after a reconnect) starts after it.
    client.known(conv.id, page.results.map((m) => m.seq), { through: conv.messages.has(page.last_seq) ? page.last_seq : 0 });
    setHistoryStatus(
      conv.hasOlder
        ? ""
        : conv.messages.size
          ? "This is the beginning of the conversation."
          : NO_MESSAGES,
    );
  } catch (error) {
    setHistoryStatus(`Could not load messages: ${error.message}`);
    return;
  }
  if (conv === current) {
    renderMessages();
    scrollToDivider(conv);
    markRead(conv);
    fillViewport(conv);
  }
}

// Opens at the "New messages" divider when there is one, else at the newest.
function scrollToDivider(conv) {
  const divider = conv === current && $("messages").querySelector("li.unread-divider");
  if (divider) divider.scrollIntoView({ block: "start" });
  else scrollToBottom();
  updateJumpButton();
}

async function loadOlder(conv) {
  if (!conv.hasOlder || conv.loadingOlder) return;
  const oldest = oldestSeq(conv);
  if (oldest === null) return;
  conv.loadingOlder = true;
  setHistoryStatus("Loading earlier messages…");
  const history = $("history");
  const heightBefore = history.scrollHeight;
  const topBefore = history.scrollTop;
  try {
    const page = await api(
      "GET",
      `/api/conversations/${conv.id}/messages/?before_seq=${oldest}&limit=${PAGE}`,
    );
    for (const message of page.results) ingest(conv, message);
    if (page.results.length && conv.windowSeq != null) {
      const seqs = sortedSeqs(conv);
      const { to } = windowBounds(conv, seqs);
      capWindow(conv, seqs, seqs.indexOf(page.results[0].seq), to, "top");
    }
    conv.hasOlder = page.has_more;
    setHistoryStatus(conv.hasOlder ? "" : "This is the beginning of the conversation.");
  } catch (error) {
    setHistoryStatus(`Could not load earlier messages: ${error.message}`);
  } finally {
    conv.loadingOlder = false;
  }
  if (conv === current) {
    renderMessages();
    // Keep the messages the reader was looking at where they were.
    history.scrollTop = topBefore + (history.scrollHeight - heightBefore);
    fillViewport(conv);
  }
}

function fillViewport(conv) {
  const history = $("history");
  if (conv === current && conv.hasOlder && history.scrollHeight <= history.clientHeight + 20) {
    loadOlder(conv);
  }
}

function scrollToBottom() {
  const history = $("history");
  history.scrollTop = history.scrollHeight;
}

function setHistoryStatus(text) {
  $("history-status").textContent = text;
}

// --- rendering: sidebar ---------------------------------------------------------------------

function sortedConversations() {
  return [...conversations.values()].sort((a, b) => {
    if (a.activity || b.activity) return b.activity - a.activity || a.rank - b.rank;
    return a.rank - b.rank;
  });
}

function previewText(conv) {
  const m = conv.preview;
  if (!m) return conv.kind === "announcement" ? "Announcements from the staff" : "No messages yet";
  if (m.deleted || m.body === null || m.body === undefined) return "Message deleted";
  const who = m.sender ? (isMine(m) ? "You" : displayName(m.sender)) : "";
  const text = m.body.replace(/\s+/g, " ").slice(0, 80);
  return who && conv.kind !== "direct" ? `${who}: ${text}` : isMine(m) ? `You: ${text}` : text;
}

// Presence as we know it: nothing while our own connection is down (it may be stale).
function presenceOf(userId) {
  return client.isReady ? presence.get(userId) || null : null;
}

function renderSidebar() {
  const list = $("conversation-list");
  const filter = $("conversation-filter").value.trim().toLowerCase();
  const shown = sortedConversations().filter((conv) => {
    if (!filter) return true;
    const partner = directPartner(conv);
    return [conv.title, partner ? displayName(partner) : ""].some((t) => t.toLowerCase().includes(filter));
  });
  const items = shown.map((conv) => {
    const partner = directPartner(conv);
    const state = partner ? presenceOf(partner.id) : null;
    const label = [conv.title];
    if (conv.kind === "group") label.push("group");
    if (conv.kind === "announcement") label.push("announcements");
    if (state) label.push(state.status);
    if (conv.unread) label.push(`${conv.unread} unread`);
    if (conv.unreadMentions) label.push(`${conv.unreadMentions} mentioning you`);
    const button = el(
      "button",
      {
        type: "button",
        class: "conversation",
        "aria-current": conv === current ? "true" : null,
        "aria-label": label.join(", "),
        onclick: () => openConversation(conv),
      },
      el(
        "span",
        { class: "avatar", "aria-hidden": "true" },
        partner ? avatarOf(partner, { cls: "avatar-inner" }) : conv.kind === "announcement" ? "📢" : conv.kind === "group" ? "#" : conv.title.slice(0, 1).toUpperCase(),
        state ? el("span", { class: `presence-dot ${state.status}` }) : null,
      ),
      el(
        "span",
        { class: "conversation-text" },
        el("span", { class: "conversation-title", dir: "auto" }, partner ? displayName(partner) : conv.title),
        el("span", { class: "conversation-preview", dir: "auto" }, previewText(conv)),
      ),
      conv.unreadMentions ? el("span", { class: "badge mention-badge", "aria-hidden": "true" }, "@") : null,
      conv.unread ? el("span", { class: "badge", "aria-hidden": "true" }, String(conv.unread)) : null,
    );
    return el("li", { dataset: { conversationId: conv.id, kind: conv.kind } }, button);
  });
  const focusedId = document.activeElement?.closest?.("#conversation-list li")?.dataset.conversationId;
  list.replaceChildren(...items);
  if (focusedId) list.querySelector(`li[data-conversation-id="${focusedId}"] button`)?.focus();
  $("no-conversations").hidden = conversations.size > 0;
  $("no-filter-match").hidden = !(filter && conversations.size && !shown.length);
  const total = [...conversations.values()].reduce((n, c) => n + c.unread, 0);
  document.title = total ? `(${total}) Parley` : "Parley";
  $("mark-all-read").hidden = total === 0;
  renderFavicon(total);
}

// --- rendering: the open conversation -------------------------------------------------------

function openConversation(conv) {
  if (current && !editing) saveDraft(current, $("composer-input").value);
  stopEditing();
  composerError("");
  current = conv;
  $("messages").replaceChildren();
  $("typing").textContent = "";
  closeDetails();
  body.classList.toggle("show-pane", Boolean(conv));
  $("empty-pane").hidden = Boolean(conv);
  if (!conv) {
    $("conversation-title").textContent = "Select a conversation";
    $("conversation-subtitle").textContent = "";
    $("composer").hidden = true;
    $("readonly-note").hidden = true;
    $("details-button").hidden = true;
    pinsFor(null);
    setHistoryStatus("");
    renderSidebar();
    document.dispatchEvent(new CustomEvent("parley:conversation-opened", { detail: null }));
    return;
  }
  renderHeader();
  const readOnly = conv.kind === "announcement" && !me.isStaff;
  $("composer").hidden = readOnly;
  $("readonly-note").hidden = !readOnly;
  $("details-button").hidden = conv.kind !== "group";
  pinsFor(conv);
  $("composer-input").value = conv.draft;
  updateCounter();
  setHistoryStatus("");
  // "New messages" above the first unread, for as long as the conversation stays open.
  conv.dividerSeq = conv.unread > 0 ? conv.readSeq : null;
  conv.windowSeq = null; // the newest WINDOW messages; the divider's context below
  conv.windowEndSeq = null;
  if (conv.dividerSeq !== null) {
    const seqs = sortedSeqs(conv);
    if (seqs.length > WINDOW) conv.windowSeq = Math.min(seqs[seqs.length - WINDOW], conv.dividerSeq - AROUND);
  }
  renderMessages();
  scrollToBottom();
  if (!conv.historyLoaded) loadNewest(conv);
  else {
    scrollToDivider(conv);
    markRead(conv);
  }
  renderSidebar();
  if (!readOnly) $("composer-input").focus();
  document.dispatchEvent(new CustomEvent("parley:conversation-opened", { detail: { id: conv.id, kind: conv.kind } }));
}

function renderHeader() {
  const conv = current;
  const partner = directPartner(conv);
  $("conversation-title").textContent = partner ? displayName(partner) : conv.title;
  let subtitle = "";
  if (conv.kind === "direct") {
    const state = partner && presenceOf(partner.id);
    if (!client.isReady) subtitle = "presence unknown while offline";
    else if (state) {
      subtitle =
        state.status === "online"
          ? "online"
          : state.last_seen
            ? `last seen ${relativeTime(state.last_seen)}`
            : "offline";
    }
  } else if (conv.kind === "group") {
    const n = conv.members.length;
    subtitle = n ? `${n} ${n === 1 ? "member" : "members"}` : "group";
  } else {
    subtitle = "announcements";
  }
  $("conversation-subtitle").textContent = subtitle;
  $("conversation-title").setAttribute("dir", "auto");
}

// State changed: render once in the next animation frame, however many frames arrived (a sync
// of 500 messages is one render, not 500). Hidden tabs get no animation frames: a short timer
// keeps the title's unread count current there.
const dirty = new Set();
let renderScheduled = false;

function refresh(conv) {
  if (conv) dirty.add(conv);
  if (renderScheduled) return;
  renderScheduled = true;
  if (document.hidden) setTimeout(renderNow, 50);
  else requestAnimationFrame(renderNow);
}

function renderNow() {
  renderScheduled = false;
  if (current && dirty.has(current)) {
    const history = $("history");
    const atBottom = current.windowEndSeq == null && history.scrollHeight - history.scrollTop - history.clientHeight < 80;
    renderMessages();
    if (atBottom) scrollToBottom();
    markRead(current);
    updateJumpButton();
  }
  dirty.clear();
  renderSidebar();
}

// Long conversations: only the newest WINDOW messages (and whatever the reader scrolled up to
// or was sent to) are in the DOM; scrolling up adds WINDOW_STEP more at a time.
const WINDOW = 150;
const WINDOW_STEP = 100;

function sortedSeqs(conv) {
  return [...conv.messages.keys()].sort((a, b) => a - b);
}

const MAX_ROWS = 300; // at most this many message rows in the DOM

// Keeps the row the reader looks at in place while rows are added or dropped around it.
function keepingRow(render) {
  const history = $("history");
  const top = history.getBoundingClientRect().top;
  const anchor = [...$("messages").children].find((row) => row.getBoundingClientRect().bottom > top);
  const before = anchor ? anchor.getBoundingClientRect().top : 0;
  render();
  if (anchor && anchor.isConnected) history.scrollTop += anchor.getBoundingClientRect().top - before;
}

function windowBounds(conv, seqs) {
  const from = conv.windowSeq == null ? 0 : Math.max(0, seqs.findIndex((seq) => seq >= conv.windowSeq));
  let to = seqs.length - 1;
  if (conv.windowEndSeq != null) {
    const end = seqs.findIndex((seq) => seq > conv.windowEndSeq);
    if (end !== -1) to = end - 1;
  }
  return { from, to };
}

// Caps the rows at MAX_ROWS, dropping from the end away from `keep` ("top" or "bottom").
function capWindow(conv, seqs, from, to, keep) {
  if (to - from + 1 > MAX_ROWS) {
    if (keep === "top") to = from + MAX_ROWS - 1;
    else from = to - MAX_ROWS + 1;
  }
  conv.windowSeq = from > 0 ? seqs[from] : null;
  conv.windowEndSeq = to < seqs.length - 1 ? seqs[to] : null;
}

// Shows more of the messages already in memory above the window; false when there are none.
function windowUp(conv) {
  const seqs = sortedSeqs(conv);
  const { from, to } = windowBounds(conv, seqs);
  if (from === 0) return false;
  keepingRow(() => {
    capWindow(conv, seqs, Math.max(0, from - WINDOW_STEP), to, "top");
    renderMessages();
  });
  return true;
}

// The same below, when the reader scrolled up and comes back down.
function windowDown(conv) {
  if (conv.windowEndSeq == null) return false;
  const seqs = sortedSeqs(conv);
  const { from, to } = windowBounds(conv, seqs);
  keepingRow(() => {
    capWindow(conv, seqs, from, Math.min(seqs.length - 1, to + WINDOW_STEP), "bottom");
    renderMessages();
  });
  return true;
}

const GROUP_GAP_MS = 5 * 60 * 1000; // messages closer than this under one header

// The rows of the open conversation, each with a key and a version: renderMessages rebuilds a
// row only when its version changed.
function messageItems(conv) {
  const items = [];
  let lastDay = null;
  let previous = null; // the message above, for grouping
  const all = sortedSeqs(conv);
  if (conv.windowSeq == null && conv.windowEndSeq == null && all.length > WINDOW) conv.windowSeq = all[all.length - WINDOW];
  const { from, to } = windowBounds(conv, all);
  if (from > 0) {
    const above = conv.messages.get(all[from - 1]);
    lastDay = dayKey(above.created_at);
    previous = above;
  }
  const addDay = (iso) => {
    const key = dayKey(iso);
    if (key !== lastDay) {
      lastDay = key;
      previous = null;
      items.push({ key: `day-${key}`, version: dayLabel(iso), build: () => dayRow(iso) });
    }
  };
  const seqs = all.slice(from, to + 1);
  let lastOwn = 0;
  for (const seq of seqs) if (isMine(conv.messages.get(seq)) && !conv.messages.get(seq).deleted) lastOwn = seq;
  let dividerShown = false;
  for (const seq of seqs) {
    const m = conv.messages.get(seq);
    addDay(m.created_at);
    if (!dividerShown && conv.dividerSeq !== null && seq > conv.dividerSeq && !isMine(m)) {
      dividerShown = true;
      previous = null;
      items.push({ key: "unread-divider", version: "1", build: unreadDivider });
    }
    const grouped = Boolean(
      previous &&
        m.sender &&
        previous.sender &&
        previous.sender.id === m.sender.id &&
        !previous.deleted &&
        Date.parse(m.created_at) - Date.parse(previous.created_at) < GROUP_GAP_MS,
    );
    previous = m;
    const status = isMine(m) ? markOf(conv, m) : "";
    const mark = seq === lastOwn ? status : "";
    const editable = canEdit(m);
    const version = [m.body, m.html, m.deleted, m.edited_at, status, mark, editable, grouped, relativeTime(m.created_at), m.previews?.length ?? 0, personVersion(m.sender), JSON.stringify([m.reply_to, m.thread_summary, m.reactions, m.pinned])].join("|");
    items.push({ key: `m-${seq}`, version, build: () => messageRow(conv, m, { status, mark, editable, grouped }) });
  }
  for (const p of conv.windowEndSeq == null ? client.pending(conv.id) : []) {
    addDay(p.queued_at || new Date().toISOString());
    items.push({
      key: `p-${p.client_msg_id}`,
      version: `${p.status}|${p.error}|${conn.isReady}`,
      build: () => pendingRow(conv, p),
    });
  }
  return items;
}

function unreadDivider() {
  return el("li", { class: "unread-divider" }, el("span", {}, "New messages"));
}

const NO_MESSAGES = "No messages yet. Write the first one below.";

function renderMessages() {
  const conv = current;
  const list = $("messages");
  if (!conv) return list.replaceChildren();
  if (conv.messages.size && $("history-status").textContent === NO_MESSAGES) {
    setHistoryStatus("This is the beginning of the conversation.");
  }
  const existing = new Map([...list.children].map((node) => [node.dataset.key, node]));
  let previous = null;
  for (const item of messageItems(conv)) {
    let node = existing.get(item.key);
    existing.delete(item.key);
    if (!node || node.dataset.version !== item.version) {
      const fresh = item.build();
      fresh.dataset.key = item.key;
      fresh.dataset.version = item.version;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    const wanted = previous ? previous.nextSibling : list.firstChild;
    if (wanted !== node) list.insertBefore(node, wanted);
    previous = node;
  }
  for (const stale of existing.values()) stale.remove();
  renderTyping();
}

function dayRow(iso) {
  // No role on the <li> itself: a list may only hold list items (axe "list").
  return el("li", { class: "day" }, el("span", {}, dayLabel(iso)));
}

const MARK_TEXT = { sent: "✓ Sent", delivered: "✓✓ Delivered", read: "✓✓ Read" };

// Who read up to this message, for the mark's tooltip in groups.
function readersOf(conv, message) {
  const names = [];
  for (const [userId, r] of conv.receipts) {
    if (r.read_seq >= message.seq) {
      const member = conv.members.find((u) => u.id === userId);
      names.push(member ? displayName(member) : `user ${userId}`);
    }
  }
  return names;
}

function messageRow(conv, m, { status = null, mark = "", editable = false, grouped = false } = {}) {
  if (!m.sender) {
    return el(
      "li",
      { class: "message system", dataset: { seq: m.seq } },
      el("span", { class: "body", dir: "auto" }, m.body ?? ""),
      " ",
      el("time", { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, timeOf(m.created_at)),
    );
  }
  const mine = isMine(m);
  const deleted = m.deleted || m.body === null || m.body === undefined;
  const bodyNode = deleted
    ? el("div", { class: "body tombstone" }, "This message was deleted")
    : messageBody(m, me, () => linkify(m.body));
  if (!deleted) bodyNode.setAttribute("dir", "auto");
  const actions = [];
  if (!deleted) actions.push(replyButton(conv, m), pinAction(conv, m));
  if (mine && !deleted && editable) {
    actions.push(el("button", { type: "button", class: "tool", onclick: () => startEditing(conv, m), "aria-label": "Edit this message" }, "Edit"));
  }
  if (mine && !deleted && supported.edit) {
    actions.push(el("button", { type: "button", class: "tool", onclick: () => deleteMessage(conv, m), "aria-label": "Delete this message" }, "Delete"));
  }
  const exact = new Date(m.created_at).toLocaleString();
  const row = el(
    "li",
    {
      class: `message${mine ? " mine" : ""}${deleted ? " deleted" : ""}${grouped ? " grouped" : ""}${mentionsMe(m, me) ? " mentioned" : ""}`,
      dataset: { seq: m.seq, id: m.id, status: mine ? status : null },
    },
    el(
      "div",
      { class: grouped ? "meta sr-only" : "meta" },
      avatarOf(m.sender),
      el("button", { type: "button", class: "sender sender-button", onclick: () => showUserCard(m.sender) }, mine ? `${displayName(m.sender)} (you)` : displayName(m.sender)),
      botBadge(m.sender),
      " ",
      el("time", { datetime: m.created_at, title: exact }, relativeTime(m.created_at)),
      m.edited_at && !deleted ? editedMark(conv, m) : null,
      deleted ? null : pinMark(m),
    ),
    replyQuote(m),
    bodyNode,
    deleted ? null : attachmentsNode(m.attachments),
    deleted ? null : previewsNode(m.previews),
    threadButton(conv, m),
    deleted ? null : reactionBar(conv, m),
    mark && !deleted
      ? el(
          "div",
          { class: `mark mark-${mark.split(" ")[0]}`, title: conv.kind === "group" && readersOf(conv, m).length ? `Read by ${readersOf(conv, m).join(", ")}` : null },
          MARK_TEXT[mark] || `✓✓ ${mark[0].toUpperCase()}${mark.slice(1)}`,
        )
      : null,
    actions.length
      ? el(
          "div",
          { class: "actions", role: "toolbar", "aria-label": "Message actions" },
          el(
            "button",
            {
              type: "button",
              class: "tool more",
              "aria-label": "More actions",
              "aria-expanded": "false",
              onclick: (event) => {
                const open = row.classList.toggle("show-actions");
                event.currentTarget.setAttribute("aria-expanded", String(open));
              },
            },
            "⋯",
          ),
          ...actions,
        )
      : null,
  );
  return row;
}

function pendingRow(conv, p) {
  const failed = p.status === "failed";
  const waiting = !conn.isReady && !failed;
  return el(
    "li",
    { class: `message mine ${failed ? "failed" : "pending"}`, dataset: { status: failed ? "failed" : "pending", clientMsgId: p.client_msg_id } },
    el("div", { class: "meta" }, el("span", { class: "sender" }, `${me.username} (you)`)),
    el("div", { class: "body", dir: "auto" }, linkify(p.body)),
    attachmentsNode(p.attachments),
    el(
      "div",
      { class: "mark" },
      failed ? `Not sent: ${p.error || "failed"} ` : waiting ? "Waiting for the connection…" : "Sending…",
      failed ? el("button", { type: "button", class: "link retry", onclick: () => retry(conv, p.client_msg_id) }, "Retry") : null,
      failed ? el("button", { type: "button", class: "link", onclick: () => client.discard(p.client_msg_id) }, "Discard") : null,
    ),
  );
}

function renderTyping() {
  const conv = current;
  const now = Date.now();
  const names = conv
    ? [...conv.typing.entries()].filter(([, t]) => t.until > now).map(([, t]) => t.username)
    : [];
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

// --- edit and delete ------------------------------------------------------------------------

// Whether the server would still take an edit of this message (features.edit_window_seconds;
// a few seconds of margin for the trip there).
function canEdit(message) {
  if (!supported.edit || !isMine(message) || message.deleted) return false;
  const sent = Date.parse(message.created_at);
  return !Number.isFinite(sent) || Date.now() - sent < supported.edit_window_seconds * 1000 - 5000;
}

function startEditing(conv, message, text = message.body) {
  if (!supported.edit) return;
  editing = { conv, message };
  $("composer-mode").hidden = false;
  $("composer-mode-text").textContent = "Editing a message (Escape cancels)";
  const input = $("composer-input");
  input.value = text;
  updateCounter();
  input.focus();
}

function stopEditing() {
  if (!editing) return;
  editing = null;
  $("composer-mode").hidden = true;
  $("composer-input").value = current ? current.draft : "";
  composerError("");
  updateCounter();
}

async function deleteMessage(conv, message) {
  if (!supported.edit) return;
  const sure = await confirmDialog({
    title: "Delete this message?",
    text: "It is deleted for everyone in the conversation.",
    confirm: "Delete",
  });
  if (!sure) return;
  if (!conn.send({ type: "delete", conversation: conv.id, id: message.id })) {
    toast("Not connected: the message was not deleted. Try again when the connection is back.", { kind: "error" });
  }
}

// --- notifications ----------------------------------------------------------------------------

function notify(conv, message) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (!document.hidden) return;
  const sender = message.sender ? message.sender.username : "Parley";
  const note = new Notification(conv.kind === "direct" ? sender : `${sender} · ${conv.title}`, {
    body: (message.body || "").slice(0, 140),
    tag: `conversation-${conv.id}`,
  });
  note.addEventListener("click", () => {
    window.focus();
    openConversation(conv);
    note.close();
  });
}

function setUpNotificationButton() {
  const button = $("notify-button");
  if (!("Notification" in window)) return;
  if (Notification.permission === "granted") subscribeWebPush();
  if (Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.hidden = Notification.permission !== "default";
    if (Notification.permission === "granted") subscribeWebPush();
  });
}

// Web Push, when the server has a VAPID key: notifications also while no Parley tab is open.
// Any failure (no push service, no key, an older server) leaves in-page notifications only.
async function pushRegistration() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
  return navigator.serviceWorker.register(body.dataset.serviceWorker);
}

async function subscribeWebPush() {
  try {
    const config = await api("GET", "/api/push/webpush/");
    if (!config || !config.enabled || !config.public_key) return;
    const registration = await pushRegistration();
    if (!registration) return;
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlBytes(config.public_key),
      }));
    await api("POST", "/api/push/webpush/subscriptions/", subscription.toJSON());
  } catch {
    /* no Web Push here */
  }
}

function base64UrlBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// Logging out forgets this browser's push subscription, so the next person here gets none.
function setUpLogout() {
  const form = document.querySelector("form.logout");
  let done = false;
  form.addEventListener("submit", async (event) => {
    if (done) return;
    event.preventDefault();
    try {
      const registration =
        "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration(body.dataset.serviceWorker) : null;
      const subscription = registration && (await registration.pushManager.getSubscription());
      if (subscription) {
        await api("DELETE", "/api/push/webpush/subscriptions/", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
    } catch {
      /* log out anyway */
    }
    done = true;
    form.submit();
  });
}

// --- connection banner ------------------------------------------------------------------------

function showConnectionState(state, delay) {
  const banner = $("banner");
  const text = $("banner-text");
  const retryButton = $("banner-retry");
  banner.dataset.state = state;
  retryButton.hidden = state !== "reconnecting" || delay === null;
  banner.hidden = state === "online";
  if (state === "connecting") text.textContent = "Connecting…";
  if (state === "reconnecting") {
    text.textContent =
      delay === null
        ? "Connection lost. Reconnecting…"
        : `Connection lost. Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`;
  }
  const waiting = client.pending().filter((entry) => entry.status === "pending").length;
  if (waiting && state !== "online") {
    text.append(` ${waiting === 1 ? "1 message waits" : `${waiting} messages wait`} to be sent.`);
  }
  if (state === "unauthorized") {
    text.replaceChildren("Your session has ended. ", el("a", { href: "/login/" }, "Log in again"), ".");
  }
  if (state === "forbidden") {
    // 4403: this page's origin is not allowed, or the account was disabled.
    text.replaceChildren(
      "The server refused this connection (account disabled or page address not allowed). ",
      el("a", { href: "/login/" }, "Log in again"),
      ".",
    );
  }
  if (current) {
    renderMessages(); // pending rows say whether they wait for the connection
    renderHeader(); // presence is unknown while we are offline
  }
  renderSidebar();
}

// Feature modules report through this: a toast where the user is looking.
function flash(text) {
  toast(text, { kind: /not |could not|cannot|only /i.test(text) ? "error" : "info" });
}

// --- dialogs: new direct chat, new group -------------------------------------------------------

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

async function searchUsers(query) {
  if (!query.trim()) return [];
  return api("GET", `/api/users/?search=${encodeURIComponent(query.trim())}`);
}

function setUpDirectDialog() {
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
  input.addEventListener(
    "input",
    debounce(async () => {
      const users = await searchUsers(input.value).catch(() => []);
      results.replaceChildren(
        ...users.map((user) =>
          el(
            "li",
            {},
            el("button", { type: "button", onclick: () => openDirect(user) }, `Chat with ${user.username}`),
          ),
        ),
      );
    }, 200),
  );
  async function openDirect(user) {
    try {
      const summary = await api("POST", "/api/conversations/direct/", { user: user.id });
      dialog.close();
      openConversation(adopt(summary));
    } catch (error) {
      $("direct-error").textContent = error.message;
    }
  }
}

// A conversation the REST API just answered with: known from now on, even before the socket
// tells us.
function adopt(summary) {
  let conv = conversations.get(summary.id);
  if (!conv) {
    conv = conversationFrom(summary, -1);
    conv.activity = Date.now();
    conversations.set(conv.id, conv);
  } else if (summary.members) {
    conv.members = summary.members;
  }
  loadPresence();
  return conv;
}

function setUpGroupDialog() {
  const dialog = $("group-dialog");
  const search = $("group-search");
  const results = $("group-results");
  const chosen = new Map();
  const showChosen = () => {
    $("group-chosen").replaceChildren(
      ...(chosen.size
        ? [...chosen.values()].map((u) =>
            el("button", { type: "button", class: "chip", "aria-label": `Remove ${u.username}`, onclick: () => { chosen.delete(u.id); showChosen(); } }, `${u.username} ×`),
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
      results.replaceChildren(
        ...users.map((user) =>
          el("li", {}, el("button", { type: "button", onclick: () => { chosen.set(user.id, user); showChosen(); search.focus(); } }, `Add ${user.username}`)),
        ),
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
      openConversation(adopt(summary));
    } catch (error) {
      $("group-error").textContent = error.message;
    }
  });
}

// --- group details panel (roles, rename, members, leave) -----------------------------------

function closeDetails() {
  $("details").hidden = true;
  $("details-button").setAttribute("aria-expanded", "false");
}

async function openDetails() {
  const conv = current;
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
  if (conv !== current) return;
  if (group && typeof group.name === "string") conv.title = group.name;
  renderDetails(conv, group, Array.isArray(members) ? members : members && members.results);
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

function renderDetails(conv, group, memberList) {
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
  renderGroupExtras(conv, group);
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
  if (conv === current && !$("details").hidden && conversations.has(conv.id)) openDetails();
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

function setUpDetails() {
  $("details-button").addEventListener("click", () => ($("details").hidden ? openDetails() : closeDetails()));
  $("details-close").addEventListener("click", () => {
    closeDetails();
    $("details-button").focus();
  });
  $("rename-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const conv = current;
    const name = $("rename-input").value.trim();
    const description = $("description-input").value.trim();
    groupAction(conv, async () => {
      const answer = await api("PATCH", `/api/groups/${conv.id}/`, { name, description });
      conv.title = (answer && answer.name) || name;
      renderHeader();
      renderSidebar();
    });
  });
  $("member-filter").addEventListener("input", debounce(() => current && openDetails(), 200));
  const input = $("add-member-input");
  const results = $("add-member-results");
  $("add-member-form").addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener(
    "input",
    debounce(async () => {
      const conv = current;
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
    const conv = current;
    const sure = await confirmDialog({ title: `Leave ${conv.title}?`, text: "You stop receiving its messages.", confirm: "Leave" });
    if (!sure) return;
    groupAction(conv, async () => {
      await api("POST", `/api/groups/${conv.id}/leave/`);
      conversations.delete(conv.id);
      openConversation(null);
    });
  });
}

// --- composer and keyboard --------------------------------------------------------------------

function setUpComposer() {
  const form = $("composer");
  const input = $("composer-input");
  const files = setUpAttachments({ form, input, dropZone: $("pane") });
  const submit = () => {
    const text = input.value;
    if (!current || (!text.trim() && (editing || !files.ready()))) return;
    if (tooLong(text)) {
      composerError(`The message is too long: at most ${supported.max_body_chars} characters.`);
      return;
    }
    if (editing) {
      const { conv, message } = editing;
      // The edit's ref: a refusal (window passed, say) comes back with it, and the text goes
      // back into the composer instead of being lost.
      const ref = newRef();
      if (conn.send({ type: "edit", conversation: conv.id, id: message.id, body: text, client_msg_id: ref })) {
        editsInFlight.set(ref, { conv, message, text });
        stopEditing();
        input.value = "";
        updateCounter();
      } else {
        composerError("Not connected: the edit was not sent. It is still here; try again when the connection is back.");
      }
      return;
    }
    if (isCommand(text)) {
      if (!runCommand(conn, current, text)) {
        composerError("Not connected: the command was not sent.");
        return;
      }
    } else sendMessage(current, text, files.take());
    input.value = "";
    saveDraft(current, "");
    composerError("");
    updateCounter();
    autoSize();
    scrollToBottom();
  };
  const autoSize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && editing) {
      event.preventDefault();
      stopEditing();
    } else if (event.key === "ArrowUp" && !input.value && current && supported.edit) {
      const own = [...current.messages.values()].filter((m) => isMine(m) && !m.deleted).sort((a, b) => b.seq - a.seq);
      if (own.length) {
        event.preventDefault();
        startEditing(current, own[0]);
      }
    }
  });
  input.addEventListener("input", () => {
    autoSize();
    updateCounter();
    if (!editing && current) saveDraft(current, input.value);
    suggestCommands(current, input);
    if (input.value && !editing) sendTyping();
  });
  $("composer-cancel").addEventListener("click", () => {
    stopEditing();
    input.focus();
  });
}

function setUpPage() {
  $("history").addEventListener("scroll", () => {
    const history = $("history");
    if (current && history.scrollTop < 80 && !windowUp(current)) loadOlder(current);
    else if (current && history.scrollHeight - history.scrollTop - history.clientHeight < 80) windowDown(current);
    updateJumpButton();
  });
  $("back-button").addEventListener("click", () => {
    const id = current && current.id;
    openConversation(null);
    $("conversation-list").querySelector(`li[data-conversation-id="${id}"] button`)?.focus();
  });
  $("banner-retry").addEventListener("click", () => client.connection.reconnectNow());
  document.addEventListener("visibilitychange", () => markRead(current));
  window.addEventListener("focus", () => markRead(current));
  setInterval(() => current && renderTyping(), 1000);
}


// --- composer limits, drafts, the outbox over reloads -----------------------------------------

const COUNTER_FROM = 0.875; // the counter shows from this share of the limit on

function newRef() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function tooLong(text) {
  return [...text].length > supported.max_body_chars;
}

function applyLimits() {
  updateCounter();
}

// Instead of a silent maxlength: the count near the limit, and a clear "over by N".
function updateCounter() {
  const counter = $("composer-count");
  const length = [...$("composer-input").value].length;
  const limit = supported.max_body_chars;
  const shown = length >= limit * COUNTER_FROM;
  counter.hidden = !shown;
  counter.textContent = length > limit ? `${length - limit} characters over the limit of ${limit}` : `${length} / ${limit}`;
  counter.classList.toggle("over", length > limit);
  $("send-button").setAttribute("aria-disabled", length > limit ? "true" : "false");
}

const draftKey = `parley.drafts.${me.id}`;

function loadDrafts() {
  try {
    const drafts = JSON.parse(localStorage.getItem(draftKey) || "{}");
    return drafts && typeof drafts === "object" ? drafts : {};
  } catch {
    return {};
  }
}

function writeDrafts() {
  const drafts = {};
  for (const conv of conversations.values()) if (conv.draft) drafts[conv.id] = conv.draft;
  try {
    if (Object.keys(drafts).length) localStorage.setItem(draftKey, JSON.stringify(drafts));
    else localStorage.removeItem(draftKey);
  } catch {
    /* storage refused: drafts last as long as the page */
  }
}

const storeDrafts = debounce(writeDrafts, 300);

function saveDraft(conv, text) {
  conv.draft = text;
  storeDrafts();
}

const savedDrafts = loadDrafts();

// Leaving while sends wait: the browser asks first (they are kept and go out on the next visit,
// but the user should know they have not gone yet).
window.addEventListener("beforeunload", (event) => {
  if (current && !editing) current.draft = $("composer-input").value;
  writeDrafts();
  if (client.pending().some((entry) => entry.status === "pending")) {
    event.preventDefault();
    event.returnValue = "";
  }
});

// --- unread navigation -------------------------------------------------------------------------

// The conversations with unread messages, in sidebar order; Alt+Up/Down walk through them.
function goToUnread(step) {
  const order = sortedConversations();
  const at = current ? order.indexOf(current) : -1;
  for (let i = 1; i <= order.length; i += 1) {
    const index = (at + step * i + order.length * 2) % order.length;
    const conv = order[index];
    if (conv !== current && conv.unread > 0) {
      openConversation(conv);
      return;
    }
  }
  toast("No other conversation has unread messages.");
}

function markAllRead() {
  let any = false;
  for (const conv of conversations.values()) {
    if (!conv.unread && conv.readSeq >= conv.lastSeq) continue;
    any = true;
    if (conn.send({ type: "read", conversation: conv.id, seq: conv.lastSeq })) {
      conv.readSeq = conv.lastSeq;
      conv.unread = 0;
      conv.unreadMentions = 0;
    }
  }
  if (any && !conn.isReady) toast("Not connected: marked read here only after the connection is back.", { kind: "error" });
  renderSidebar();
}

function updateJumpButton() {
  const history = $("history");
  const far =
    (current && current.windowEndSeq != null) ||
    history.scrollHeight - history.scrollTop - history.clientHeight > history.clientHeight;
  $("jump-latest").hidden = !current || !far;
}

// --- favicon with the unread count ------------------------------------------------------------

let faviconCount = -1;
function renderFavicon(total) {
  if (total === faviconCount) return;
  faviconCount = total;
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

// --- theme ---------------------------------------------------------------------------------------

const THEMES = ["system", "light", "dark"];
function setUpTheme() {
  const button = $("theme-button");
  const show = () => {
    const theme = document.documentElement.dataset.theme || "system";
    button.textContent = `Theme: ${theme}`;
  };
  button.addEventListener("click", () => {
    const now = document.documentElement.dataset.theme || "system";
    const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
    if (next === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    try {
      if (next === "system") localStorage.removeItem("parley.theme");
      else localStorage.setItem("parley.theme", next);
    } catch {
      /* the choice lasts for this page */
    }
    show();
  });
  show();
}

function setUpNavigation() {
  document.addEventListener("keydown", (event) => {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      goToUnread(event.key === "ArrowUp" ? -1 : 1);
    }
  });
  $("mark-all-read").addEventListener("click", markAllRead);
  $("jump-latest").addEventListener("click", () => {
    if (current && current.windowEndSeq != null) {
      current.windowSeq = null;
      current.windowEndSeq = null;
      renderMessages();
    }
    scrollToBottom();
    updateJumpButton();
    $("composer-input").focus();
  });
  $("conversation-filter").addEventListener("input", () => renderSidebar());
  // Times like "5 min ago" and the edit window move on by themselves.
  setInterval(() => {
    if (current) {
      renderMessages();
      renderHeader();
    }
  }, 30000);
}

// --- search: opening a conversation at a found message (the search UI is search.js) ----------

const AROUND = 20; // messages shown before the found one
const AROUND_PAGES = 40; // at most this many pages of 500 from it to the newest

// Loads the history from a little before `seq` up to the newest, so the conversation's
// messages stay one unbroken run that ends at the newest (as loadNewest/loadOlder keep them).
async function loadFrom(conv, seq) {
  setHistoryStatus("Loading messages…");
  const start = Math.max(0, seq - AROUND);
  conv.windowSeq = conv.windowSeq == null ? start : Math.min(conv.windowSeq, start);
  conv.windowEndSeq = null; // capped to MAX_ROWS from `start` once loaded (below)
  let after = start;
  try {
    for (let i = 0; i < AROUND_PAGES; i++) {
      const page = await api(
        "GET",
        `/api/conversations/${conv.id}/messages/?after_seq=${after}&limit=500`,
      );
      for (const message of page.results) ingest(conv, message);
      conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
      if (!page.has_more || !page.results.length) break;
      after = page.results[page.results.length - 1].seq;
    }
  } catch (error) {
    setHistoryStatus(`Could not load messages: ${error.message}`);
    return false;
  }
  conv.historyLoaded = true;
  if (start > 0) conv.hasOlder = true; // loadOlder finds out when scrolled up
  const seqs = sortedSeqs(conv);
  const { from } = windowBounds(conv, seqs);
  capWindow(conv, seqs, from, seqs.length - 1, "top");
  setHistoryStatus("");
  return true;
}

async function openConversationAt(conversationId, message) {
  const conv = conversations.get(conversationId);
  if (!conv) {
    flash("That conversation is no longer in your list.");
    return false;
  }
  const missing = !conv.messages.has(message.seq);
  // Not through loadNewest: it would scroll to the bottom when it lands.
  const wasLoaded = conv.historyLoaded;
  conv.historyLoaded = true;
  if (current !== conv) openConversation(conv);
  conv.historyLoaded = wasLoaded;
  if ((missing || !wasLoaded) && !(await loadFrom(conv, message.seq))) return false;
  if (conv !== current) return false;
  {
    const seqs = sortedSeqs(conv);
    const at = seqs.indexOf(message.seq);
    const { from, to } = windowBounds(conv, seqs);
    if (at !== -1 && (at < from || at > to)) capWindow(conv, seqs, Math.max(0, at - AROUND), seqs.length - 1, "top");
  }
  renderMessages();
  markRead(conv);
  const row = $("messages").querySelector(`li[data-seq="${message.seq}"]`);
  if (!row) return false;
  row.scrollIntoView({ block: "center" });
  row.tabIndex = -1;
  row.focus({ preventScroll: true });
  row.classList.add("found");
  setTimeout(() => row.classList.remove("found"), 3000);
  return true;
}

setUpSearch({
  conversationList: () => [...conversations.values()],
  currentConversation: () => current,
  openAt: openConversationAt,
});

setUpPage();
setUpComposer();
setUpMentionAutocomplete($("composer"), $("composer-input"), () => current?.members, me);
setUpGroups({
  adopt: (summary) => {
    const conv = adopt(summary);
    renderSidebar();
    return conv;
  },
  conversation: (id) => conversations.get(id),
  open: (conv) => openConversation(conv),
  flash,
  isMember: (id) => conversations.has(id),
});
setUpPins({ current: () => current, flash });
setUpReactions({
  me,
  react: (conv, message, emoji, on) => conn.send({ type: "react", conversation: conv.id, message: message.id, emoji, on }) || flash("Not connected: the reaction was not sent."),
  nameOf: (conv, id) => (id === me.id ? "you" : conv.members.find((u) => u.id === id)?.username || `user ${id}`),
});
setUpThreads({ me, send: (conv, text, replyTo) => sendMessage(conv, text, [], replyTo), body: (m) => messageBody(m, me, () => linkify(m.body || "")) });
setUpDirectDialog();
setUpGroupDialog();
setUpTheme();
setUpNavigation();
setUpFeatureModules({ client, api, toast, confirmDialog, currentConversation: () => current });
setUpDetails();
setUpNotificationButton();
setUpLogout();
client.start();
