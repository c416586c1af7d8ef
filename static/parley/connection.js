// One WebSocket to /ws/, authenticated by the session cookie. Reconnects with exponential
// backoff and full jitter, pings at the server's heartbeat_interval, and closes a socket that
// has gone silent so a dead connection is noticed even without a TCP error.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;

export class Connection {
  constructor({ url, onFrame, onState }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
  }

  start() {
    this.open();
  }

  open() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped) return;
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting", null);
    let ws;
    try {
      ws = new WebSocket(this.url);
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
        this.onState("online", null);
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.stopHeartbeat();
      if (event.code === 4401) {
        this.stopped = true;
        this.onState("unauthorized", null);
      } else if (event.code === 4403) {
        this.stopped = true;
        this.onState("forbidden", null);
      } else {
        this.scheduleReconnect();
      }
    });
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    // Full jitter: clients cut off together do not all come back at the same instant.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.onState("reconnecting", delay);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.open();
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
    return Boolean(this.ws && this.ready && this.ws.readyState === WebSocket.OPEN);
  }

  send(frame) {
    if (!this.isReady) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
