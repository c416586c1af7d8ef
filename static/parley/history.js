// Loading a conversation's history over REST into the store. No DOM: what the reader should
// see while it loads goes into `conv.historyStatus`; the message list shows it and scrolls.
// `ctx.ingest(conv, message)` takes each message in (protocol.js: the store plus the delivered
// receipt it calls for); `ctx.client` is the SDK.

import { api } from "./api.js";
import { AROUND, seqIndex, setWindow, sortedSeqs, windowBounds } from "./store.js";

export const PAGE = 50;
const AROUND_PAGES = 40; // at most this many pages of 500 from a found message to the newest
export const NO_MESSAGES = "No messages yet. Write the first one below.";
const BEGINNING = "This is the beginning of the conversation.";
// Where history starts when the retention policy deleted what came before (`first_seq` > 1).
const TRIMMED = "Earlier messages were deleted by this conversation's retention policy.";

// What the top of a fully loaded history says: its beginning, or that retention trimmed it.
function start(conv, page, empty) {
  if (page.first_seq > 1) return TRIMMED;
  return empty && !conv.messages.size ? NO_MESSAGES : BEGINNING;
}

// The newest page. Returns true when it loaded. `client.known` tells the SDK where sync starts.
export async function fetchNewest(ctx, conv) {
  conv.historyStatus = "Loading messages…";
  try {
    const page = await api("GET", `/api/conversations/${conv.id}/messages/?limit=${PAGE}`);
    for (const message of page.results) ctx.ingest(conv, message);
    conv.historyLoaded = true;
    conv.hasOlder = page.has_more;
    conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
    // The newest page: sync (after a reconnect) starts after it.
    ctx.client.known(
      conv.id,
      page.results.map((m) => m.seq),
      { through: conv.messages.has(page.last_seq) ? page.last_seq : 0 },
    );
    conv.historyStatus = conv.hasOlder ? "" : start(conv, page, true);
    return true;
  } catch (error) {
    conv.historyStatus = `Could not load messages: ${error.message}`;
    return false;
  }
}

// The page before the oldest loaded message; the window grows upwards to show it.
export async function fetchOlder(ctx, conv, oldest) {
  conv.loadingOlder = true;
  conv.historyStatus = "Loading earlier messages…";
  try {
    const page = await api(
      "GET",
      `/api/conversations/${conv.id}/messages/?before_seq=${oldest}&limit=${PAGE}`,
    );
    for (const message of page.results) ctx.ingest(conv, message);
    if (page.results.length) {
      const { to } = windowBounds(conv);
      setWindow(conv, seqIndex(conv, page.results[0].seq), to, "top");
    }
    conv.hasOlder = page.has_more;
    conv.historyStatus = conv.hasOlder ? "" : start(conv, page, false);
    return true;
  } catch (error) {
    conv.historyStatus = `Could not load earlier messages: ${error.message}`;
    return false;
  } finally {
    conv.loadingOlder = false;
  }
}

// Loads the history from a little before `seq` up to the newest, so the conversation's
// messages stay one unbroken run that ends at the newest (as fetchNewest/fetchOlder keep them).
export async function fetchFrom(ctx, conv, seq) {
  conv.historyStatus = "Loading messages…";
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
      for (const message of page.results) ctx.ingest(conv, message);
      conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
      if (!page.has_more || !page.results.length) break;
      after = page.results[page.results.length - 1].seq;
    }
  } catch (error) {
    conv.historyStatus = `Could not load messages: ${error.message}`;
    return false;
  }
  conv.historyLoaded = true;
  if (start > 0) conv.hasOlder = true; // fetchOlder finds out when scrolled up
  const { from } = windowBounds(conv);
  setWindow(conv, from, sortedSeqs(conv).length - 1, "top");
  conv.historyStatus = "";
  return true;
}
