// View: the open conversation's header (title, presence or member count) and the pane's
// empty state.

import { relativeTime } from "./render.js";
import { directPartner, presenceOf } from "./store.js";

const $ = (id) => document.getElementById(id);

export function createHeader(ctx) {
  const { store } = ctx;
  const { displayName } = ctx.people;

  function subtitleOf(conv) {
    if (conv.kind === "direct") {
      const partner = directPartner(store, conv);
      const state = partner && presenceOf(store, partner.id);
      if (!store.online) return "presence unknown while offline";
      if (!state) return "";
      if (state.status === "online") return "online";
      return state.last_seen ? `last seen ${relativeTime(state.last_seen)}` : "offline";
    }
    if (conv.kind === "group") {
      const n = conv.members.length;
      return n ? `${n} ${n === 1 ? "member" : "members"}` : "group";
    }
    return "announcements";
  }

  function render() {
    const conv = store.current;
    document.body.classList.toggle("show-pane", Boolean(conv));
    $("empty-pane").hidden = Boolean(conv);
    $("details-button").hidden = !conv || conv.kind !== "group";
    if (!conv) {
      $("conversation-title").textContent = "Select a conversation";
      $("conversation-subtitle").textContent = "";
      return;
    }
    const partner = directPartner(store, conv);
    $("conversation-title").textContent = partner ? displayName(partner) : conv.title;
    $("conversation-title").setAttribute("dir", "auto");
    $("conversation-subtitle").textContent = subtitleOf(conv);
  }

  return { render };
}
