// Drives static/parley/client.js (the JavaScript SDK) from Node against a live server; run by
// tests/web/test_js_client.py. Prints one JSON line with what it saw.
//   node --experimental-websocket js_client_check.mjs <client.js path> <base url> <alice token>
//        <bob token> <conversation id>

const [clientPath, base, aliceToken, bobToken, conversationArg] = process.argv.slice(2);
const conversation = Number(conversationArg);
const { ParleyClient, memoryStore } = await import(clientPath);

const wsUrl = `${base.replace(/^http/, "ws")}/ws/?token=${aliceToken}`;
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: "timed out", log }));
  process.exit(2);
}, 90_000);
const log = [];

function until(client, name, test = () => true) {
  return new Promise((resolve) => {
    const off = client.on(name, (...args) => {
      if (test(...args)) {
        off();
        resolve(args);
      }
    });
  });
}

async function bobSends(body, n) {
  const response = await fetch(`${base}/api/conversations/${conversation}/messages/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${bobToken}` },
    body: JSON.stringify({ client_msg_id: `node-bob-${n}-${Date.now()}`, body }),
  });
  if (!response.ok) throw new Error(`bob's send: HTTP ${response.status}`);
}

// A WebSocket that loses the first answer (ack, or the message frame that may come first) of a
// chosen send together with the connection: the send's fate is unknown to the client, which
// must resend it with the same client_msg_id.
const loseAckOf = new Set();
const lostAcks = [];
class LossySocket extends WebSocket {
  addEventListener(type, fn, options) {
    if (type !== "message") return super.addEventListener(type, fn, options);
    return super.addEventListener(
      type,
      (event) => {
        const frame = JSON.parse(event.data);
        if ((frame.type === "ack" || frame.type === "message") && loseAckOf.has(frame.client_msg_id)) {
          loseAckOf.delete(frame.client_msg_id);
          lostAcks.push(frame);
          this.close(4000, "test: connection lost before the ack");
          return;
        }
        fn(event);
      },
      options,
    );
  }
}

const store = memoryStore();
const alice = new ParleyClient({ url: wsUrl, WebSocket: LossySocket, store });
const received = [];
const acks = [];
const states = [];
let readies = 0;
alice.on("message", (message, { live }) => {
  if (message.sender && message.sender.id !== alice.user.id) received.push({ body: message.body, seq: message.seq, live });
});
alice.on("ack", (ack) => acks.push(ack));
alice.on("state", (state) => states.push(state));
alice.on("ready", () => (readies += 1));

const ready = until(alice, "ready");
alice.start();
const [readyFrame] = await ready;
log.push("ready");

// 1. Send and get the ack.
const first = await alice.send(conversation, "hello from node");
log.push("first ack");

// 2. Receive live.
const gotLive = until(alice, "message", (m) => m.body === "live from bob");
await bobSends("live from bob", 1);
await gotLive;
log.push("live received");

// 3. Drop the line; meanwhile Bob writes three messages and Alice queues one.
alice.connection.pause();
await until(alice, "state", (s) => s === "offline");
for (let n = 2; n <= 4; n += 1) await bobSends(`missed ${n}`, n);
const queued = alice.send(conversation, "queued while offline");
const queuedWhileOffline = store.load().map((e) => e.body);
const synced = until(alice, "synced", (id) => id === conversation);
alice.connection.resume();
await synced;
const queuedAck = await queued;
log.push("resumed");

// 4. The ack of the next send is lost with the connection: resent with the same id after the
// reconnect, stored once (the second ack says duplicate).
const cid = "node-lost-ack-1";
loseAckOf.add(cid);
const secondReady = until(alice, "ready");
const lostAckSend = alice.send(conversation, "ack lost on the way", { clientMsgId: cid });
await secondReady;
const resentAck = await lostAckSend;
log.push("resent");

alice.stop();
clearTimeout(deadline);
console.log(
  JSON.stringify({
    features: readyFrame.features,
    first,
    received,
    queuedWhileOffline,
    queuedAck,
    lostAck: lostAcks[0],
    resentAck,
    readies,
    outboxLeft: alice.pending().length,
    states,
    log,
  }),
);
process.exit(0);
