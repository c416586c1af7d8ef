// The chat page's state and the plain functions that change it. No DOM, no network: the
// protocol layer (protocol.js) and the views call these and then ask for a render
// (scheduler.js). Everything the page knows lives in the one object `createStore` returns.

import { mentionsMe } from "./markup.js";

// Until the first `ready` (docs/protocol.md, `features`), assume the basics.
const DEFAULT_FEATURES = {
  receipts: true,
  typing: true,
  edit: true,
  changes: true,
  edit_window_seconds: 900,
  max_body_chars: 4000,
};

export const WINDOW = 60; // message rows in the DOM when a conversation opens (about three screens)
export const WINDOW_STEP = 100; // rows added from memory per step when scrolling
export const MAX_ROWS = 200; // at most this many message rows in the DOM
export const AROUND = 20; // messages shown above a found message or the first unread
export const TYPING_SHOWN_MS = 4000;

export function createStore({ me, drafts = {} }) {
  return {
    me, // {id, username, isStaff}
    features: { ...DEFAULT_FEATURES },
    conversations: new Map(), // id -> conversation (conversationFrom)
    presence: new Map(), // user id -> {status, last_seen}
    people: new Map(), // user id -> card (accounts.events.UserCard or PublicUser): names, avatars, status (people.js shows them)
    current: null, // the open conversation
    editing: null, // {conv, message}: the message the composer edits
    editsInFlight: new Map(), // ref (the edit frame's client_msg_id) -> {conv, message, text}
    lastTypingSent: 0,
    online: false, // our own connection is ready (presence is unknown otherwise)
    readDetailsSeq: null, // the message whose read-details popover is open
    replying: null, // {conv, message}: the composer's next message answers it (threads.js)
    thread: null, // the open thread panel: {conv, rootId, root, messages} (threads.js)
    bots: new Set(), // ids of the bots this user shares a conversation with: their rows get a badge (integrations.js)
    commandRefs: new Set(), // client_msg_ids of the slash commands sent from this page (integrations.js)
    commandLists: new Map(), // conversation id -> [{command, description}] available there (integrations.js)
    savedDrafts: drafts, // drafts read at start-up, by conversation id
  };
}

// What `ready.users` and `user_updated` frames say about people, merged into what was known.
export function rememberPeople(store, users) {
  for (const user of users || []) {
    store.people.set(user.id, { ...(store.people.get(user.id) || {}), ...user });
  }
}

export function conversationFrom(store, summary, rank) {
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
    seqs: null, // the keys of `messages`, sorted; null when it has to be sorted again
    historyLoaded: false,
    historyStatus: "", // "Loading messages…", "This is the beginning…" (the message list shows it)
    hasOlder: false,
    loadingOlder: false,
    receipts: new Map(), // user id -> {delivered_seq, read_seq}
    typing: new Map(), // user id -> {username, until}
    preview: summary.last_message || null,
    activity: summary.last_message ? Date.parse(summary.last_message.created_at) || 0 : 0,
    rank,
    draft: store.savedDrafts[summary.id] || "",
    dividerSeq: null, // the "New messages" divider goes above the first message after this
    windowSeq: null, // the oldest message row in the DOM (null: the newest WINDOW)
    windowEndSeq: null, // the newest message row in the DOM (null: the newest message)
    deliveredSent: 0,
    deliveredTimer: null,
  };
}

// A conversation that came with a `conversation` frame or a REST answer: known from now on.
export function adoptConversation(store, summary) {
  let conv = store.conversations.get(summary.id);
  if (!conv) {
    conv = conversationFrom(store, summary, -1);
    conv.activity = Date.now();
    store.conversations.set(conv.id, conv);
  } else if (summary.members) {
    conv.members = summary.members;
  }
  return conv;
}

export function isMine(store, message) {
  return Boolean(message.sender && message.sender.id === store.me.id);
}

export function sortedSeqs(conv) {
  if (!conv.seqs) conv.seqs = [...conv.messages.keys()].sort((a, b) => a - b);
  return conv.seqs;
}

export function oldestSeq(conv) {
  const seqs = sortedSeqs(conv);
  return seqs.length ? seqs[0] : null;
}

function putMessage(conv, message) {
  if (!conv.messages.has(message.seq)) conv.seqs = null;
  conv.messages.set(message.seq, message);
}

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

// Takes a message (live, synced or from history). Returns {isNew, notify}: notify when it is a
// new live message from someone else (the caller may show a notification).
export function ingest(store, conv, message, { live = false } = {}) {
  const known = conv.messages.get(message.seq);
  if (known) {
    // Same seq again: a duplicate, or the current state of an edited/deleted message.
    if (sameContent(known, message)) return { isNew: false, notify: false };
    const merged = { ...known, ...message };
    // Receipt counts record facts (members who left still count): an answer computed before
    // a later one never lowers what is shown.
    for (const key of ["read_count", "delivered_count"]) {
      if (known[key] != null && message[key] != null) merged[key] = Math.max(known[key], message[key]);
    }
    putMessage(conv, merged);
    return { isNew: false, notify: false };
  }
  putMessage(conv, message);
  let notify = false;
  if (message.sender) conv.typing.delete(message.sender.id);
  if (message.seq > conv.lastSeq) {
    conv.lastSeq = message.seq;
    if (!isMine(store, message)) {
      conv.unread += 1;
      if (mentionsMe(message, store.me)) conv.unreadMentions += 1;
      notify = live;
    }
  }
  if (!conv.preview || message.seq >= conv.preview.seq) {
    conv.preview = message;
    conv.activity = Date.parse(message.created_at) || Date.now();
  }
  return { isNew: true, notify };
}

// The `ready` frame: conversations, counts and features as the server has them now. Returns the
// conversations whose edits/deletes must be fetched (their change cursor moved meanwhile).
export function applyReady(store, frame) {
  if (frame.features) store.features = { ...store.features, ...frame.features };
  const seen = new Set();
  const behind = [];
  frame.conversations.forEach((summary, rank) => {
    seen.add(summary.id);
    let conv = store.conversations.get(summary.id);
    if (!conv) {
      conv = conversationFrom(store, summary, rank);
      store.conversations.set(conv.id, conv);
      return;
    }
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
    if ((summary.last_change_seq || 0) > conv.changeSeq) behind.push(conv);
    const last = summary.last_message;
    if (last && (!conv.preview || last.seq >= conv.preview.seq)) {
      conv.preview = last;
      conv.activity = Date.parse(last.created_at) || conv.activity;
    }
  });
  for (const id of [...store.conversations.keys()]) {
    if (!seen.has(id)) store.conversations.delete(id); // we left or were removed meanwhile
  }
  return behind;
}

export function applyMembers(store, summaries) {
  for (const summary of summaries) {
    const conv = store.conversations.get(summary.id);
    if (conv && summary.members) conv.members = summary.members;
  }
}

// A receipt frame. Returns the conversation when something shown changed.
export function applyReceipt(store, frame) {
  const conv = store.conversations.get(frame.conversation);
  if (!conv) return null;
  if (frame.user === store.me.id) {
    // Read on another device of mine: clear the badge here too.
    if (frame.read_seq <= conv.readSeq) return null;
    conv.readSeq = frame.read_seq;
    let unread = 0;
    for (const m of conv.messages.values()) {
      if (m.seq > conv.readSeq && !isMine(store, m)) unread += 1;
    }
    conv.unread = Math.min(conv.unread, unread);
    if (conv.readSeq >= conv.lastSeq) conv.unread = 0;
    return conv;
  }
  const before = conv.receipts.get(frame.user) || { delivered_seq: 0, read_seq: 0 };
  conv.receipts.set(frame.user, {
    delivered_seq: Math.max(before.delivered_seq, frame.delivered_seq || 0),
    read_seq: Math.max(before.read_seq, frame.read_seq || 0),
  });
  return conv;
}

export function applyPresence(store, rows) {
  for (const [user, row] of rows) store.presence.set(user, { status: row.status, last_seen: row.last_seen });
}

// Presence as we know it: nothing while our own connection is down (it may be stale).
export function presenceOf(store, userId) {
  return store.online ? store.presence.get(userId) || null : null;
}

export function applyTyping(store, frame, now = Date.now()) {
  const conv = store.conversations.get(frame.conversation);
  if (!conv || frame.user === store.me.id) return null;
  const member = conv.members.find((m) => m.id === frame.user);
  const name = member ? member.username : frame.username || "Someone";
  conv.typing.set(frame.user, { username: name, until: now + TYPING_SHOWN_MS });
  return conv;
}

export function typingNames(conv, now = Date.now()) {
  return conv ? [...conv.typing.values()].filter((t) => t.until > now).map((t) => t.username) : [];
}

// message_updated / message_deleted. Returns the conversation when a loaded message changed.
export function applyMessageChanged(store, frame, deleted) {
  const conv = store.conversations.get(frame.conversation);
  if (!conv) return null;
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
      for (const [ref, edit] of store.editsInFlight) {
        if (String(edit.message.id) === id) store.editsInFlight.delete(ref);
      }
      if (conv.preview && conv.preview.seq === seq) conv.preview = updated;
      return conv;
    }
  }
  return null;
}

// thread_updated, reaction, pins: numbered in the change cursor like edits; `update` gives the
// new state of the message concerned. Returns that message, or null.
export function applyConversationChange(store, frame, update) {
  const conv = store.conversations.get(frame.conversation);
  if (!conv) return null;
  if (frame.change_seq) conv.changeSeq = Math.max(conv.changeSeq, frame.change_seq);
  const id = String(frame.message ?? frame.id);
  for (const [seq, message] of conv.messages) {
    if (String(message.id) === id) {
      const updated = update(message);
      conv.messages.set(seq, updated);
      return updated;
    }
  }
  return null;
}

// Everything up to the newest is read (the caller sends the `read` frame when `needsFrame`).
export function onlyMineSince(store, conv, seq) {
  for (let s = seq + 1; s <= conv.lastSeq; s += 1) {
    const message = conv.messages.get(s);
    if (!message || !isMine(store, message)) return false;
  }
  return true;
}

export function unreadTotal(store) {
  let total = 0;
  for (const conv of store.conversations.values()) total += conv.unread;
  return total;
}

export function directPartner(store, conv) {
  if (conv.kind !== "direct") return null;
  return conv.members.find((m) => m.id !== store.me.id) || null;
}

export function sortedConversations(store) {
  return [...store.conversations.values()].sort((a, b) => {
    if (a.activity || b.activity) return b.activity - a.activity || a.rank - b.rank;
    return a.rank - b.rank;
  });
}

// The mark shown under one of my messages: sent, delivered or read, by direct-chat status, by
// group counts, and by receipts received since.
export function markOf(conv, message) {
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

// Who has read up to this message and who has it delivered only, as far as this page knows:
// the receipts received since it opened (by member), and the server's counts (`read_count`,
// `delivered_count`: facts that may include members whose receipts this page never saw).
export function readDetails(store, conv, message) {
  const read = [];
  const delivered = [];
  for (const [userId, r] of conv.receipts) {
    if (userId === store.me.id) continue;
    const member = conv.members.find((u) => u.id === userId) || { id: userId };
    if (r.read_seq >= message.seq) read.push(member);
    else if (r.delivered_seq >= message.seq) delivered.push(member);
  }
  const readCount = Math.max(message.read_count || 0, read.length);
  const deliveredCount = Math.max(message.delivered_count || 0, read.length + delivered.length, readCount);
  return {
    read,
    delivered,
    unnamedRead: readCount - read.length,
    unnamedDelivered: Math.max(0, deliveredCount - readCount - delivered.length),
  };
}

// Whether the server would still take an edit of this message (features.edit_window_seconds;
// a few seconds of margin for the trip there).
export function canEdit(store, message, now = Date.now()) {
  if (!store.features.edit || !isMine(store, message) || message.deleted) return false;
  const sent = Date.parse(message.created_at);
  return !Number.isFinite(sent) || now - sent < store.features.edit_window_seconds * 1000 - 5000;
}

export function tooLong(store, text) {
  return [...text].length > store.features.max_body_chars;
}

// --- the window of message rows in the DOM (long conversations) ---------------------------

export function windowBounds(conv, seqs = sortedSeqs(conv)) {
  const from = conv.windowSeq == null ? 0 : Math.max(0, lowerBound(seqs, conv.windowSeq));
  let to = seqs.length - 1;
  if (conv.windowEndSeq != null) {
    const end = lowerBound(seqs, conv.windowEndSeq + 1);
    if (end < seqs.length) to = end - 1;
  }
  return { from, to };
}

// The index of the first seq >= `seq` (seqs.length when none).
function lowerBound(seqs, seq) {
  let low = 0;
  let high = seqs.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (seqs[mid] < seq) low = mid + 1;
    else high = mid;
  }
  return low;
}

// Sets the window to rows from..to (indexes into the sorted seqs), capped at MAX_ROWS by
// dropping from the end away from `keep` ("top" or "bottom").
export function setWindow(conv, from, to, keep) {
  const seqs = sortedSeqs(conv);
  if (to - from + 1 > MAX_ROWS) {
    if (keep === "top") to = from + MAX_ROWS - 1;
    else from = to - MAX_ROWS + 1;
  }
  // An explicit start even at the oldest: null would mean "the newest WINDOW" (settleWindow).
  conv.windowSeq = seqs.length ? seqs[from] : null;
  conv.windowEndSeq = to < seqs.length - 1 ? seqs[to] : null;
}

// Opening: the newest WINDOW rows, or from a little above the "New messages" divider.
export function resetWindow(conv) {
  conv.windowSeq = null;
  conv.windowEndSeq = null;
  const seqs = sortedSeqs(conv);
  if (seqs.length > WINDOW) conv.windowSeq = seqs[seqs.length - WINDOW];
  if (conv.dividerSeq !== null && seqs.length > WINDOW) {
    conv.windowSeq = Math.min(conv.windowSeq, conv.dividerSeq - AROUND);
  }
}

// Shows WINDOW_STEP more of the messages in memory above (step < 0) or below (step > 0) the
// window. Returns false when there are none.
export function moveWindow(conv, step) {
  const seqs = sortedSeqs(conv);
  const { from, to } = windowBounds(conv, seqs);
  if (step < 0) {
    if (from === 0) return false;
    setWindow(conv, Math.max(0, from - WINDOW_STEP), to, "top");
  } else {
    if (conv.windowEndSeq == null) return false;
    setWindow(conv, from, Math.min(seqs.length - 1, to + WINDOW_STEP), "bottom");
  }
  return true;
}

// Makes sure the message `seq` is in the window (a search hit, the first unread).
export function windowAround(conv, seq) {
  const seqs = sortedSeqs(conv);
  const at = lowerBound(seqs, seq);
  const { from, to } = windowBounds(conv, seqs);
  if (at < seqs.length && seqs[at] === seq && (at < from || at > to)) {
    setWindow(conv, Math.max(0, at - AROUND), seqs.length - 1, "top");
  }
}

// The index of `seq` among the sorted seqs, or -1.
export function seqIndex(conv, seq) {
  const seqs = sortedSeqs(conv);
  const at = lowerBound(seqs, seq);
  return seqs[at] === seq ? at : -1;
}

// Before a render: a conversation that grew past WINDOW while it had no window gets one (the
// newest WINDOW rows).
export function settleWindow(conv) {
  const seqs = sortedSeqs(conv);
  if (conv.windowSeq == null && conv.windowEndSeq == null && seqs.length > WINDOW) {
    conv.windowSeq = seqs[seqs.length - WINDOW];
  }
}
