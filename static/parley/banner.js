// View: the connection banner (#banner): connecting, reconnecting (with "Retry now"), how many
// messages wait to be sent, a session that ended.

import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

export function createBanner(ctx) {
  $("banner-retry").addEventListener("click", () => ctx.client.connection.reconnectNow());

  function render(state, delay) {
    const banner = $("banner");
    const text = $("banner-text");
    banner.dataset.state = state;
    $("banner-retry").hidden = state !== "reconnecting" || delay === null;
    banner.hidden = state === "online";
    if (state === "connecting") text.textContent = "Connecting…";
    if (state === "reconnecting") {
      text.textContent =
        delay === null
          ? "Connection lost. Reconnecting…"
          : `Connection lost. Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`;
    }
    const waiting = ctx.client.pending().filter((entry) => entry.status === "pending").length;
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
  }

  return { render };
}
