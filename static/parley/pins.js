// Pins and edit history: the Pin/Unpin action, the 📌 mark, the "Pinned" list in the header,
// and the earlier texts behind "(edited)". Text only ever becomes text nodes.

import { api } from "./api.js";
import { el } from "./render.js";

// hooks: {current(), flash(text)}. The open popover (pinned messages or earlier versions) is
// view state and lives in this closure. Returns the row builders messagelist.js puts into rows
// (`ctx.pins`) and `pinsFor(conv)`, which app.js calls when a conversation opens.
export function createPins(hooks) {
  let popover = null;

  const button = el(
    "button",
    { type: "button", id: "pins-button", hidden: true, "aria-haspopup": "dialog", onclick: (event) => showPins(event.currentTarget) },
    "📌 Pinned",
  );
  document.getElementById("details-button").before(button);
  document.addEventListener("click", (event) => {
    if (popover && !popover.contains(event.target) && !event.target.closest("#pins-button, .edited")) closePopover();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePopover();
  });

  // Called when a conversation opens: pins exist in direct chats and groups.
  function pinsFor(conv) {
    document.getElementById("pins-button").hidden = !conv || conv.kind === "announcement";
    closePopover();
  }

  function closePopover() {
    if (popover) popover.remove();
    popover = null;
  }

  function open(anchor, title, items) {
    closePopover();
    popover = el(
      "div",
      { class: "popover", role: "dialog", "aria-label": title },
      el("h3", {}, title),
      items.length ? el("ul", { class: "popover-list" }, ...items) : el("p", { class: "empty" }, "Nothing yet."),
    );
    anchor.after(popover);
  }

  async function showPins(anchor) {
    const conv = hooks.current();
    if (!conv) return;
    try {
      const pins = await api("GET", `/api/conversations/${conv.id}/pins/`);
      open(
        anchor,
        "Pinned messages",
        pins.map((pin) =>
          el(
            "li",
            {},
            el("button", { type: "button", class: "link", onclick: () => jump(pin.message.id) }, pin.message.sender ? pin.message.sender.username : ""),
            " ",
            el("span", {}, (pin.message.body || "").slice(0, 120)),
          ),
        ),
      );
    } catch (error) {
      hooks.flash(error.message);
    }
  }

  function jump(id) {
    closePopover();
    const row = document.querySelector(`#messages li.message[data-id="${CSS.escape(String(id))}"]`);
    if (row) row.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function pinAction(conv, message) {
    if (conv.kind === "announcement") return null;
    const on = !message.pinned;
    return el(
      "button",
      {
        type: "button",
        class: "link",
        "aria-label": on ? "Pin this message" : "Unpin this message",
        onclick: async () => {
          try {
            await api(on ? "PUT" : "DELETE", `/api/conversations/${conv.id}/pins/${message.id}/`);
          } catch (error) {
            hooks.flash(error.status === 403 ? "Only the group's owner and admins pin messages." : error.message);
          }
        },
      },
      on ? "Pin" : "Unpin",
    );
  }

  function pinMark(message) {
    return message.pinned ? el("span", { class: "pin-mark", title: "Pinned", "aria-label": "pinned" }, " 📌") : null;
  }

  // "(edited)" as a button that shows the earlier texts.
  function editedMark(conv, message) {
    return el(
      "button",
      {
        type: "button",
        class: "link edited",
        "aria-label": "Edited: show earlier versions",
        onclick: async (event) => {
          const anchor = event.currentTarget;
          try {
            const edits = await api("GET", `/api/conversations/${conv.id}/messages/${message.id}/edits/`);
            open(
              anchor,
              "Earlier versions",
              edits.map((edit) => el("li", {}, el("time", { datetime: edit.edited_at }, new Date(edit.edited_at).toLocaleString()), " ", el("span", {}, edit.body))),
            );
          } catch (error) {
            hooks.flash(error.message);
          }
        },
      },
      "(edited)",
    );
  }

  return { pinsFor, pinAction, pinMark, editedMark };
}
