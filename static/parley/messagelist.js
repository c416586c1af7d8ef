// View: the open conversation's message list (#history, #messages), the typing line, the
// "Jump to latest" button and the read-details popover. Rows are keyed (`m-<seq>`,
// `p-<client_msg_id>`) with a version string and rebuilt only when it changes; only a window of
// the loaded messages is in the DOM (store.js: windowBounds, moveWindow).

import { attachmentsNode } from "./attachments.js";
import { NO_MESSAGES } from "./history.js";
import { mentionsMe, messageBody } from "./markup.js";
import { previewsNode } from "./previews.js";
import { dayKey, dayLabel, el, linkify, relativeTime, timeOf } from "./render.js";
import {
  canEdit,
  isMine,
  markOf,
  moveWindow,
  readDetails,
  settleWindow,
  sortedSeqs,
  typingNames,
  windowBounds,
} from "./store.js";

const GROUP_GAP_MS = 5 * 60 * 1000; // messages closer than this under one header
const MARK_TEXT = { sent: "✓ Sent", delivered: "✓✓ Delivered", read: "✓✓ Read" };

const $ = (id) => document.getElementById(id);

// ctx: {store, client, people (people.js), pins (pins.js), reactions (reactions.js),
//       integrations (integrations.js), threads (threads.js), actions: {startEditing, deleteMessage, retry, discard,
//       loadReceipts}}
export function createMessageList(ctx) {
  const { store, threads } = ctx;
  const { avatarOf, displayName, personVersion, showUserCard } = ctx.people;
  const { editedMark, pinAction, pinMark } = ctx.pins;
  const { reactionBar } = ctx.reactions;
  const { botBadge } = ctx.integrations;
  const history = $("history");
  const list = $("messages");

  function items(conv) {
    const rows = [];
    settleWindow(conv);
    const all = sortedSeqs(conv);
    const { from, to } = windowBounds(conv, all);
    let lastDay = null;
    let previous = null; // the message above, for grouping
    if (from > 0) {
      previous = conv.messages.get(all[from - 1]);
      lastDay = dayKey(previous.created_at);
    }
    const addDay = (iso) => {
      const key = dayKey(iso);
      if (key !== lastDay) {
        lastDay = key;
        previous = null;
        rows.push({ key: `day-${key}`, version: dayLabel(iso), build: () => dayRow(iso) });
      }
    };
    let lastOwn = 0;
    for (let i = from; i <= to; i += 1) {
      const m = conv.messages.get(all[i]);
      if (isMine(store, m) && !m.deleted) lastOwn = m.seq;
    }
    let dividerShown = false;
    const now = Date.now();
    for (let i = from; i <= to; i += 1) {
      const seq = all[i];
      const m = conv.messages.get(seq);
      addDay(m.created_at);
      if (!dividerShown && conv.dividerSeq !== null && seq > conv.dividerSeq && !isMine(store, m)) {
        dividerShown = true;
        previous = null;
        rows.push({ key: "unread-divider", version: "1", build: unreadDivider });
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
      const status = isMine(store, m) ? markOf(conv, m) : "";
      const mark = seq === lastOwn ? status : "";
      const editable = canEdit(store, m, now);
      const version = [
        m.body,
        m.html,
        m.deleted,
        m.edited_at,
        status,
        mark,
        editable,
        grouped,
        relativeTime(m.created_at, now),
        m.previews?.length ?? 0,
        personVersion(m.sender),
        JSON.stringify([m.reply_to, m.thread_summary, m.reactions, m.pinned]),
      ].join("|");
      rows.push({ key: `m-${seq}`, version, build: () => messageRow(conv, m, { status, mark, editable, grouped }) });
    }
    for (const p of conv.windowEndSeq == null ? ctx.client.pending(conv.id) : []) {
      addDay(p.queued_at || new Date().toISOString());
      rows.push({
        key: `p-${p.client_msg_id}`,
        version: `${p.status}|${p.error}|${ctx.client.isReady}`,
        build: () => pendingRow(conv, p),
      });
    }
    return rows;
  }

  function render() {
    const conv = store.current;
    if (!conv) {
      list.replaceChildren();
      $("history-status").textContent = "";
      renderTyping();
      return;
    }
    if (conv.messages.size && conv.historyStatus === NO_MESSAGES) {
      conv.historyStatus = "This is the beginning of the conversation.";
    }
    $("history-status").textContent = conv.historyStatus;
    const existing = new Map();
    for (const node of list.children) existing.set(node.dataset.key, node);
    let previous = null;
    for (const item of items(conv)) {
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
    renderReadDetails();
  }

  function dayRow(iso) {
    // No role on the <li> itself: a list may only hold list items (axe "list").
    return el("li", { class: "day" }, el("span", {}, dayLabel(iso)));
  }

  function unreadDivider() {
    return el("li", { class: "unread-divider" }, el("span", {}, "New messages"));
  }

  function markNode(conv, m, mark) {
    const text = MARK_TEXT[mark] || `✓✓ ${mark[0].toUpperCase()}${mark.slice(1)}`;
    const cls = `mark mark-${mark.split(" ")[0]}`;
    if (conv.kind !== "group") return el("div", { class: cls }, text);
    // In groups the mark opens who has read (and who has only received) this message.
    return el(
      "div",
      { class: cls },
      el(
        "button",
        {
          type: "button",
          class: "seen-by",
          "aria-haspopup": "dialog",
          "aria-expanded": store.readDetailsSeq === m.seq ? "true" : "false",
          "aria-controls": "read-details",
          onclick: (event) => toggleReadDetails(conv, m, event.currentTarget),
        },
        text,
      ),
    );
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
    const me = store.me;
    const mine = isMine(store, m);
    const deleted = m.deleted || m.body === null || m.body === undefined;
    const bodyNode = deleted
      ? el("div", { class: "body tombstone" }, "This message was deleted")
      : messageBody(m, me, () => linkify(m.body));
    if (!deleted) bodyNode.setAttribute("dir", "auto");
    const actions = [];
    if (!deleted) actions.push(threads.replyButton(conv, m), pinAction(conv, m));
    if (mine && !deleted && editable) {
      actions.push(el("button", { type: "button", class: "tool", onclick: () => ctx.actions.startEditing(conv, m), "aria-label": "Edit this message" }, "Edit"));
    }
    if (mine && !deleted && store.features.edit) {
      actions.push(el("button", { type: "button", class: "tool", onclick: () => ctx.actions.deleteMessage(conv, m), "aria-label": "Delete this message" }, "Delete"));
    }
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
        el("time", { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, relativeTime(m.created_at)),
        m.edited_at && !deleted ? editedMark(conv, m) : null,
        deleted ? null : pinMark(m),
      ),
      threads.replyQuote(m),
      bodyNode,
      deleted ? null : attachmentsNode(m.attachments),
      deleted ? null : previewsNode(m.previews),
      threads.threadButton(conv, m),
      deleted ? null : reactionBar(conv, m),
      mark && !deleted ? markNode(conv, m, mark) : null,
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
    const waiting = !ctx.client.isReady && !failed;
    return el(
      "li",
      { class: `message mine ${failed ? "failed" : "pending"}`, dataset: { status: failed ? "failed" : "pending", clientMsgId: p.client_msg_id } },
      el("div", { class: "meta" }, el("span", { class: "sender" }, `${store.me.username} (you)`)),
      el("div", { class: "body", dir: "auto" }, linkify(p.body)),
      attachmentsNode(p.attachments),
      el(
        "div",
        { class: "mark" },
        failed ? `Not sent: ${p.error || "failed"} ` : waiting ? "Waiting for the connection…" : "Sending…",
        failed ? el("button", { type: "button", class: "link retry", onclick: () => ctx.actions.retry(conv, p.client_msg_id) }, "Retry") : null,
        failed ? el("button", { type: "button", class: "link", onclick: () => ctx.actions.discard(p.client_msg_id) }, "Discard") : null,
      ),
    );
  }

  function renderTyping() {
    const names = typingNames(store.current);
    $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  // --- the read-details popover (groups) ----------------------------------------------------

  const popover = el("div", {
    id: "read-details",
    class: "read-details",
    role: "dialog",
    "aria-labelledby": "read-details-title",
    hidden: true,
  });
  $("pane").append(popover);
  popover.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeReadDetails({ restoreFocus: true });
    }
  });
  const refilling = { now: false }; // focus leaves the popover while its content is replaced
  popover.addEventListener("focusout", (event) => {
    if (refilling.now || popover.hidden || popover.contains(event.relatedTarget)) return;
    if (event.relatedTarget && event.relatedTarget.closest?.(".seen-by")) return;
    closeReadDetails();
  });
  document.addEventListener("click", (event) => {
    if (!popover.hidden && !popover.contains(event.target) && !event.target.closest?.(".seen-by")) closeReadDetails();
  });

  function seenByButton() {
    return store.readDetailsSeq == null ? null : list.querySelector(`li[data-seq="${store.readDetailsSeq}"] .seen-by`);
  }

  function toggleReadDetails(conv, m, button) {
    if (store.readDetailsSeq === m.seq) {
      closeReadDetails({ restoreFocus: true });
      return;
    }
    store.readDetailsSeq = m.seq;
    button.setAttribute("aria-expanded", "true");
    renderReadDetails();
    ctx.actions.loadReceipts(conv); // names for receipts sent before this page opened
    popover.querySelector("button")?.focus();
  }

  function closeReadDetails({ restoreFocus = false } = {}) {
    const button = seenByButton();
    store.readDetailsSeq = null;
    popover.hidden = true;
    if (button) {
      button.setAttribute("aria-expanded", "false");
      if (restoreFocus) button.focus();
    }
  }

  // Who read the message the popover is open for; kept current while receipts arrive.
  function renderReadDetails() {
    const conv = store.current;
    const m = conv && store.readDetailsSeq != null ? conv.messages.get(store.readDetailsSeq) : null;
    const button = seenByButton();
    if (!m || !button) {
      if (!popover.hidden) {
        store.readDetailsSeq = null;
        popover.hidden = true;
      }
      return;
    }
    const details = readDetails(store, conv, m);
    const names = (members) => members.map((u) => displayName(u));
    const section = (title, people, unnamed, none) => {
      const rows = names(people).map((name) => el("li", { dir: "auto" }, name));
      if (unnamed) rows.push(el("li", { class: "unnamed" }, `${unnamed} ${people.length ? "more" : unnamed === 1 ? "member" : "members"} (before this page opened)`));
      return [el("h3", {}, title), rows.length ? el("ul", {}, ...rows) : el("p", { class: "empty" }, none)];
    };
    const focused = popover.contains(document.activeElement);
    refilling.now = true;
    popover.replaceChildren(
      el(
        "div",
        { class: "read-details-head" },
        el("h2", { id: "read-details-title" }, "Seen by"),
        el("button", { type: "button", class: "tool", "aria-label": "Close", onclick: () => closeReadDetails({ restoreFocus: true }) }, "×"),
      ),
      ...section("Read", details.read, details.unnamedRead, "Nobody yet"),
      ...(details.delivered.length || details.unnamedDelivered
        ? section("Delivered, not read yet", details.delivered, details.unnamedDelivered, "")
        : []),
    );
    popover.hidden = false;
    const pane = $("pane").getBoundingClientRect();
    const at = button.getBoundingClientRect();
    popover.style.right = `${Math.max(8, pane.right - at.right)}px`;
    const below = at.bottom - pane.top + 4;
    const fitsBelow = at.bottom + popover.offsetHeight + 8 < pane.bottom;
    popover.style.top = `${fitsBelow ? below : Math.max(8, at.top - pane.top - popover.offsetHeight - 4)}px`;
    if (focused) popover.querySelector("button")?.focus();
    refilling.now = false;
  }

  // --- scrolling and the window ---------------------------------------------------------------

  function nearBottom() {
    return history.scrollHeight - history.scrollTop - history.clientHeight < 80;
  }

  function scrollToBottom() {
    history.scrollTop = history.scrollHeight;
  }

  // Opens at the "New messages" divider when there is one, else at the newest.
  function scrollToDivider() {
    const divider = list.querySelector("li.unread-divider");
    if (divider) divider.scrollIntoView({ block: "start" });
    else scrollToBottom();
    updateJumpButton();
  }

  // Keeps the row the reader looks at in place while rows are added or dropped around it.
  function keepingRow(change) {
    const top = history.getBoundingClientRect().top;
    const anchor = [...list.children].find((row) => row.getBoundingClientRect().bottom > top);
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    change();
    render();
    if (anchor && anchor.isConnected) history.scrollTop += anchor.getBoundingClientRect().top - before;
  }

  // Shows more of the loaded messages above (step < 0) or below; false when there are none.
  function slide(conv, step) {
    let moved = false;
    keepingRow(() => {
      moved = moveWindow(conv, step);
    });
    return moved;
  }

  function updateJumpButton() {
    const conv = store.current;
    const far = (conv && conv.windowEndSeq != null) || history.scrollHeight - history.scrollTop - history.clientHeight > history.clientHeight;
    $("jump-latest").hidden = !conv || !far;
  }

  function jumpToLatest() {
    const conv = store.current;
    if (conv && conv.windowEndSeq != null) {
      conv.windowSeq = null;
      conv.windowEndSeq = null;
      render();
    }
    scrollToBottom();
    updateJumpButton();
  }

  // Scrolls to a message and highlights it; false when it is not in the DOM.
  function showMessage(seq) {
    const row = list.querySelector(`li[data-seq="${seq}"]`);
    if (!row) return false;
    row.scrollIntoView({ block: "center" });
    row.tabIndex = -1;
    row.focus({ preventScroll: true });
    row.classList.add("found");
    setTimeout(() => row.classList.remove("found"), 3000);
    return true;
  }

  return {
    render,
    renderTyping,
    nearBottom,
    scrollToBottom,
    scrollToDivider,
    slide,
    updateJumpButton,
    jumpToLatest,
    showMessage,
    closeReadDetails,
    clear() {
      list.replaceChildren();
      $("typing").textContent = "";
      closeReadDetails();
    },
    isScrolledNearTop: () => history.scrollTop < 80,
    fitsWithoutScrolling: () => history.scrollHeight <= history.clientHeight + 20,
    scrollPosition: () => ({ height: history.scrollHeight, top: history.scrollTop }),
    restoreScroll: ({ height, top }) => {
      history.scrollTop = top + (history.scrollHeight - height);
    },
  };
}
