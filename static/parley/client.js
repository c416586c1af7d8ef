// Parley's JavaScript client SDK: the connection and protocol layer, with no DOM.
//
// Runs in browsers and in Node (v22+, or v20 with --experimental-websocket; or pass any
// WebSocket implementation as `WebSocket`). It follows the protocol's delivery rules
// (docs/protocol.md, docs/clients.md):
//   - every message is handed on once: duplicates (same seq) are dropped;
//   - after `ready` and on a gap in a conversation's seqs it sends `sync` from the last seq it
//     has seen without a hole, following `has_more` until done;
//   - a send waits in the outbox (persisted through `store`) until its `ack`, and after every
//     `ready` it goes again with the same client_msg_id, so the server stores it once;
//   - it reconnects with jittered exponential backoff, and stops on 4401/4403;
//   - it pings at the server's heartbeat_interval and drops a connection that went silent.
// This file imports nothing, so it can be copied on its own.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const ACK_TIMEOUT_MS = 15000;
// Close codes after which reconnecting cannot help: the session ended or was refused.
const FINAL_CLOSES = { 4401: "unauthorized", 4403: "forbidden" };
// Told to come back later (overload, rate limit): start the backoff higher.
const SLOW_CLOSES = new Set([1013, 4429]);

// A client_msg_id: 32 hex characters from the platform's CSPRNG.
export function newClientId() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One WebSocket with reconnects, heartbeats and per-close-code backoff.
export class Connection {
  constructor({ url, onFrame, onState, WebSocket: Socket = globalThis.WebSocket }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState || (() => {});
    this.Socket = Socket;
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    this.stopped = false;
    this.paused = false;
    this.state = "idle";
    // Browsers say when the network is back: try at once instead of waiting out the backoff.
    if (typeof globalThis.addEventListener === "function") {
      globalThis.addEventListener("online", () => this.reconnectNow());
    }
  }

  start() {
    this.stopped = false;
    this.paused = false;
    this.open();
  }

  setState(state, delay = null) {
    this.state = state;
    this.onState(state, delay);
  }

  open() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped || this.paused) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new this.Socket(typeof this.url === "function" ? this.url() : this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "ready") {
        this.ready = true;
        this.attempt = 0;
        this.startHeartbeat(frame.heartbeat_interval);
        this.setState("online");
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.stopHeartbeat();
      if (FINAL_CLOSES[event.code]) {
        this.stopped = true;
        this.setState(FINAL_CLOSES[event.code]);
      } else if (this.paused) {
        this.setState("offline");
      } else {
        if (SLOW_CLOSES.has(event.code)) this.attempt = Math.max(this.attempt, 3);
        this.scheduleReconnect();
      }
    });
  }

  scheduleReconnect() {
    if (this.stopped || this.paused) return;
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    // Jitter: clients cut off together do not all come back at the same instant.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.setState("reconnecting", delay);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.paused || this.ws) return;
    this.open();
  }

  // Closes the socket and stays offline until resume(): an app going to sleep, or a test
  // cutting the line.
  pause() {
    this.paused = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, "paused");
    else this.setState("offline");
  }

  resume() {
    this.paused = false;
    this.attempt = 0;
    this.reconnectNow();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    if (this.ws) this.ws.close(1000, "stopped");
  }

  startHeartbeat(seconds) {
    this.stopHeartbeat();
    const interval = Math.max(1, Number(seconds) || 25) * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastFrameAt > 2 * interval) {
        // No answer to the last ping: the connection is dead even if TCP has not said so.
        this.ws.close(4000, "heartbeat timeout");
        return;
      }
      this.send({ type: "ping" });
    }, interval);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  get isReady() {
    return Boolean(this.ws && this.ready && this.ws.readyState === 1);
  }

  send(frame) {
    if (!this.isReady) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}

// Where unacknowledged sends wait. Browsers: localStorage (survives reloads and crashes);
// elsewhere: memory, or any object with load() → array and save(array).
export function memoryStore(initial = []) {
  let items = initial.slice();
  return { load: () => items.slice(), save: (next) => (items = next.slice()) };
}

export function localStorageStore(key, storage = globalThis.localStorage) {
  return {
    load() {
      try {
        const items = JSON.parse(storage.getItem(key) || "[]");
        return Array.isArray(items) ? items : [];
      } catch {
        return [];
      }
    },
    save(items) {
      try {
        if (items.length) storage.setItem(key, JSON.stringify(items));
        else storage.removeItem(key);
      } catch {
        /* storage full or refused: the outbox still works for this page */
      }
    },
  };
}

// The protocol client: a Connection, per-conversation cursors, and the outbox.
//
// Events (client.on(name, fn)):
//   "ready"    (frame)                 after every (re)connect, before the syncs it starts
//   "message"  (message, {live})       each message once (live or from sync), in seq order per
//                                      conversation except while a gap is being filled
//   "ack"      (ack, entry)            a send was stored (ack.duplicate: it already was); a send
//                                      seen stored as a message frame first is settled by that
//                                      message (send() resolves with the ack it implies)
//   "failed"   (entry, errorFrame)     a send was refused (entry.error says why)
//   "outbox"   ()                      the outbox changed (queued, sent, acked, failed)
//   "synced"   (conversationId)        a conversation's sync finished
//   "state"    (state, delay)          connecting | online | reconnecting | offline |
//                                      unauthorized | forbidden
//   "frame"    (frame)                 every frame, for what the SDK does not interpret
export class ParleyClient {
  constructor({ url, WebSocket, store = memoryStore(), ackTimeoutMs = ACK_TIMEOUT_MS } = {}) {
    this.listeners = new Map();
    this.cursors = new Map(); // conversation id -> {synced, lastSeq, syncing, ahead: Set}
    this.store = store;
    this.ackTimeoutMs = ackTimeoutMs;
    this.outbox = new Map(); // client_msg_id -> entry
    this.waiters = new Map(); // client_msg_id -> {resolve, reject}
    this.features = {};
    this.user = null;
    for (const item of store.load()) {
      if (item && item.client_msg_id && item.conversation) {
        this.outbox.set(item.client_msg_id, { ...item, status: "pending", error: null });
      }
    }
    this.connection = new Connection({
      url,
      WebSocket,
      onFrame: (frame) => this.handle(frame),
      onState: (state, delay) => this.emit("state", state, delay),
    });
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, ...args) {
    for (const fn of this.listeners.get(name) || []) fn(...args);
  }

  start() {
    this.connection.start();
    return this;
  }

  stop() {
    this.connection.stop();
    for (const entry of this.outbox.values()) clearTimeout(entry.timer);
  }

  get isReady() {
    return this.connection.isReady;
  }

  // Frames the SDK does not own (typing, read, edit, react, ...): false when not connected.
  sendFrame(frame) {
    return this.connection.send(frame);
  }

  // --- cursors ------------------------------------------------------------------------------

  cursor(conversation) {
    let c = this.cursors.get(conversation);
    if (!c) {
      c = { synced: 0, lastSeq: 0, syncing: false, ahead: new Set() };
      this.cursors.set(conversation, c);
    }
    return c;
  }

  // Tells the SDK these seqs are known (loaded by REST history, say) so sync starts after them.
  // `through`: everything up to it is known (a page that ends at the newest).
  known(conversation, seqs, { through = 0 } = {}) {
    const c = this.cursor(conversation);
    for (const seq of seqs) if (seq > c.synced) c.ahead.add(seq);
    if (through > c.synced) c.synced = through;
    this.settle(c);
  }

  settle(c) {
    while (c.ahead.has(c.synced + 1)) {
      c.ahead.delete(c.synced + 1);
      c.synced += 1;
    }
    for (const seq of c.ahead) if (seq <= c.synced) c.ahead.delete(seq);
  }

  seen(c, seq) {
    return seq <= c.synced || c.ahead.has(seq);
  }

  sync(conversation, afterSeq) {
    const c = this.cursor(conversation);
    if (c.syncing) return;
    const after = afterSeq ?? c.synced;
    if (this.connection.send({ type: "sync", conversation, after_seq: after })) c.syncing = true;
  }

  // --- outbox -------------------------------------------------------------------------------

  persist() {
    this.store.save(
      [...this.outbox.values()]
        .filter((e) => !e.refused)
        .map(({ client_msg_id, conversation, body, attachments, reply_to, queued_at }) => ({
          client_msg_id,
          conversation,
          body,
          attachments,
          reply_to,
          queued_at,
        })),
    );
    this.emit("outbox");
  }

  pending(conversation) {
    return [...this.outbox.values()].filter((e) => conversation == null || e.conversation === conversation);
  }

  // Queues a message and sends it when connected. Resolves with the ack; rejects with the
  // error frame. The entry survives reloads through `store` until acknowledged.
  send(conversation, body, { clientMsgId = newClientId(), attachments = [], replyTo = null } = {}) {
    const entry = {
      client_msg_id: clientMsgId,
      conversation,
      body,
      attachments,
      reply_to: replyTo == null ? null : String(replyTo),
      queued_at: new Date().toISOString(),
      status: "pending",
      error: null,
      timer: null,
    };
    this.outbox.set(clientMsgId, entry);
    this.persist();
    const promise = new Promise((resolve, reject) => this.waiters.set(clientMsgId, { resolve, reject }));
    promise.catch(() => {}); // callers that ignore the promise do not get unhandled rejections
    this.transmit(entry);
    return promise;
  }

  transmit(entry) {
    clearTimeout(entry.timer);
    entry.status = "pending";
    entry.error = null;
    entry.refused = false;
    const frame = {
      type: "send",
      conversation: entry.conversation,
      client_msg_id: entry.client_msg_id,
      body: entry.body,
    };
    if (entry.attachments && entry.attachments.length) {
      frame.attachments = entry.attachments.map((a) => (typeof a === "object" ? a.id : a));
    }
    if (entry.reply_to) frame.reply_to = entry.reply_to;
    if (this.connection.send(frame)) {
      entry.sentAt = Date.now();
      entry.timer = setTimeout(() => {
        if (this.outbox.get(entry.client_msg_id) === entry && this.connection.isReady) {
          // Still unanswered on a live socket: shown as failed; it goes again on the next
          // ready or a retry, with the same id.
          entry.status = "failed";
          entry.error = "No answer from the server";
          this.emit("failed", entry, null);
          this.emit("outbox");
        }
      }, this.ackTimeoutMs);
    }
    // Not connected: it stays pending and goes out after the next `ready`.
  }

  retry(clientMsgId) {
    const entry = this.outbox.get(clientMsgId);
    if (!entry) return;
    this.transmit(entry);
    this.persist();
  }

  discard(clientMsgId) {
    const entry = this.outbox.get(clientMsgId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.outbox.delete(clientMsgId);
    this.persist();
  }

  settleSend(clientMsgId, ack) {
    const entry = this.outbox.get(clientMsgId);
    if (!entry) return null;
    clearTimeout(entry.timer);
    this.outbox.delete(clientMsgId);
    this.persist();
    const waiter = this.waiters.get(clientMsgId);
    if (waiter) {
      this.waiters.delete(clientMsgId);
      waiter.resolve(ack);
    }
    return entry;
  }

  // --- frames -------------------------------------------------------------------------------

  handle(frame) {
    switch (frame.type) {
      case "ready":
        return this.onReady(frame);
      case "message":
        return this.onMessage(frame);
      case "sync_done":
        return this.onSyncDone(frame);
      case "resync":
        this.emit("frame", frame);
        return this.sync(frame.conversation, frame.after_seq);
      case "ack":
        return this.onAck(frame);
      case "error":
        return this.onError(frame);
      case "conversation": {
        const summary = frame.conversation;
        if (summary && !this.cursors.has(summary.id)) {
          const c = this.cursor(summary.id);
          c.synced = summary.joined_seq || 0;
          c.lastSeq = summary.last_seq;
          if (summary.last_seq > c.synced) this.sync(summary.id);
        }
        return this.emit("frame", frame);
      }
      default:
        return this.emit("frame", frame);
    }
  }

  onReady(frame) {
    this.user = frame.user;
    this.features = frame.features || {};
    const listed = new Set();
    for (const summary of frame.conversations || []) {
      listed.add(summary.id);
      const fresh = !this.cursors.has(summary.id);
      const c = this.cursor(summary.id);
      // First sight: history before the newest is the app's to load by REST; what comes
      // after this ready is what must not be missed.
      if (fresh) c.synced = Math.max(summary.last_seq, summary.joined_seq || 0);
      c.lastSeq = Math.max(c.lastSeq, summary.last_seq);
      c.syncing = false;
    }
    for (const id of [...this.cursors.keys()]) if (!listed.has(id)) this.cursors.delete(id);
    this.emit("ready", frame);
    for (const [id, c] of this.cursors) if (c.lastSeq > c.synced) this.sync(id);
    // Sends that never got an ack go again with the same client_msg_id: stored at most once.
    for (const entry of this.outbox.values()) if (entry.status === "pending") this.transmit(entry);
    this.emit("outbox");
  }

  onMessage(message) {
    const c = this.cursor(message.conversation);
    if (this.seen(c, message.seq)) {
      this.emit("duplicate", message);
      return;
    }
    const live = !c.syncing;
    c.ahead.add(message.seq);
    c.lastSeq = Math.max(c.lastSeq, message.seq);
    const gap = message.seq > c.synced + 1;
    this.settle(c);
    // Our own send, seen stored (it can arrive before its ack): done, whatever the ack does.
    if (message.client_msg_id && this.outbox.has(message.client_msg_id) && this.user && message.sender && message.sender.id === this.user.id) {
      this.settleSend(message.client_msg_id, {
        type: "ack",
        client_msg_id: message.client_msg_id,
        conversation: message.conversation,
        id: message.id,
        seq: message.seq,
        created_at: message.created_at,
        duplicate: false,
      });
    }
    this.emit("message", message, { live });
    // A gap: frames were lost on the way; fetch what is missing (docs/protocol.md, "Gaps").
    if (gap && !c.syncing) this.sync(message.conversation);
  }

  onSyncDone(frame) {
    const c = this.cursor(frame.conversation);
    c.syncing = false;
    if (frame.has_more) {
      this.sync(frame.conversation, frame.last_seq);
    } else {
      c.synced = Math.max(c.synced, frame.last_seq);
      c.lastSeq = Math.max(c.lastSeq, frame.last_seq);
      this.settle(c);
      // A live message that skipped ahead while this sync ran: fetch what it skipped.
      if (c.lastSeq > c.synced && c.ahead.size) this.sync(frame.conversation);
      this.emit("synced", frame.conversation);
    }
    this.emit("frame", frame);
  }

  onAck(ack) {
    const entry = this.outbox.get(ack.client_msg_id);
    if (entry) {
      // Our own message is known now: its seq is no gap, and sync does not bring it back.
      const c = this.cursor(ack.conversation);
      c.lastSeq = Math.max(c.lastSeq, ack.seq);
      if (ack.seq > c.synced) c.ahead.add(ack.seq);
      this.settle(c);
      this.settleSend(ack.client_msg_id, ack);
      this.emit("ack", ack, entry);
    } else {
      this.emit("frame", ack);
    }
  }

  onError(frame) {
    const entry = frame.ref ? this.outbox.get(frame.ref) : null;
    if (entry) {
      clearTimeout(entry.timer);
      entry.status = "failed";
      entry.refused = true; // the server said no: not resent by itself, not kept over a reload
      entry.error = frame.detail || frame.code;
      const waiter = this.waiters.get(frame.ref);
      if (waiter) {
        this.waiters.delete(frame.ref);
        waiter.reject(frame);
      }
      this.persist();
      this.emit("failed", entry, frame);
      return;
    }
    this.emit("frame", frame);
  }
}
