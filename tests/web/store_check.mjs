// Checks static/parley/store.js (the chat page's state and its plain update functions) in Node,
// without a browser; run by tests/web/test_js_store.py. Exits non-zero on the first failure.
//   node store_check.mjs <store.js path>

import assert from "node:assert/strict";

const store = await import(process.argv[2]);
const me = { id: 1, username: "alice" };
const summary = { id: 7, kind: "group", title: "team", last_seq: 0, read_seq: 0, unread: 0, members: [{ id: 2, username: "bob" }, { id: 3, username: "carol" }, { id: 4, username: "dave" }] };
const at = (n) => new Date(Date.UTC(2026, 11, 7, 0, 0, n)).toISOString();
const message = (seq, sender = 2, extra = {}) => ({ type: "message", conversation: 7, id: `m${seq}`, seq, sender: { id: sender }, body: `body ${seq}`, created_at: at(seq), ...extra });

// ingest: new messages from others count as unread; the same seq again is no new message, and
// receipt counts never go down.
{
  const s = store.createStore({ me });
  const conv = store.adoptConversation(s, summary);
  assert.deepEqual(store.ingest(s, conv, message(1), { live: true }), { isNew: true, notify: true });
  assert.deepEqual(store.ingest(s, conv, message(1)), { isNew: false, notify: false });
  store.ingest(s, conv, message(2, 1, { read_count: 2 }));
  store.ingest(s, conv, message(2, 1, { read_count: 1 }));
  assert.equal(conv.messages.get(2).read_count, 2);
  assert.equal(conv.unread, 1);
  assert.equal(conv.lastSeq, 2);
  assert.equal(store.unreadTotal(s), 1);
  // Read on another device of mine clears the badge here.
  assert.equal(store.applyReceipt(s, { conversation: 7, user: 1, read_seq: 2, delivered_seq: 2 }), conv);
  assert.equal(conv.unread, 0);
}

// Who read a message: names from the receipts this page saw, the rest of the server's count
// as unnamed readers.
{
  const s = store.createStore({ me });
  const conv = store.adoptConversation(s, summary);
  store.ingest(s, conv, message(5, 1, { read_count: 3, delivered_count: 3 }));
  store.applyReceipt(s, { conversation: 7, user: 2, delivered_seq: 5, read_seq: 5 });
  store.applyReceipt(s, { conversation: 7, user: 4, delivered_seq: 5, read_seq: 4 });
  const details = store.readDetails(s, conv, conv.messages.get(5));
  assert.deepEqual(details.read.map((u) => u.username), ["bob"]);
  assert.deepEqual(details.delivered.map((u) => u.username), ["dave"]);
  assert.equal(details.unnamedRead, 2);
  assert.equal(store.markOf(conv, conv.messages.get(5)), "read by 3");
}

// The window of rows: the newest WINDOW on opening, moving by WINDOW_STEP without gaps, never
// more than MAX_ROWS, and a found message brought into it.
{
  const s = store.createStore({ me });
  const conv = store.adoptConversation(s, summary);
  for (let seq = 1000; seq >= 1; seq -= 1) store.ingest(s, conv, message(seq));
  const shown = () => {
    const seqs = store.sortedSeqs(conv);
    const { from, to } = store.windowBounds(conv, seqs);
    return seqs.slice(from, to + 1);
  };
  store.resetWindow(conv);
  assert.equal(shown().length, store.WINDOW);
  assert.equal(shown().at(-1), 1000);
  let moves = 0;
  while (store.moveWindow(conv, -1)) {
    moves += 1;
    const rows = shown();
    assert.ok(rows.length <= store.MAX_ROWS, `${rows.length} rows`);
    assert.deepEqual(rows, Array.from({ length: rows.length }, (_, i) => rows[0] + i));
  }
  assert.equal(shown()[0], 1);
  assert.ok(moves > 1);
  while (store.moveWindow(conv, 1));
  assert.equal(shown().at(-1), 1000);
  store.windowAround(conv, 10);
  assert.ok(shown().includes(10));
  // The "New messages" divider far up: the window starts a little above it.
  conv.dividerSeq = 500;
  store.resetWindow(conv);
  assert.equal(shown()[0], 500 - store.AROUND);
}

console.log("ok");
