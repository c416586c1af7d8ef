// Message bodies as the server rendered them (`html`: Markdown, sanitized on the server with an
// allow-list), mentions of the viewer marked, and @ autocomplete in the composer.
//
// Inserting `html` is safe only because the server sanitized it; the walk below is a second
// wall that keeps just the tags and attributes the server's allow-list names, so a server bug
// could not turn into script here either (the page's CSP forbids inline script as well).

import { el } from "./render.js";

const TAGS = new Set(["P", "BR", "EM", "STRONG", "S", "DEL", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A", "SPAN"]);
const ATTRIBUTES = { A: ["href", "target", "rel"], CODE: ["class"], OL: ["start"], SPAN: ["class", "data-user-id"] };

function clean(node) {
  for (const child of [...node.children]) {
    if (!TAGS.has(child.tagName)) {
      child.replaceWith(document.createTextNode(child.textContent));
      continue;
    }
    const allowed = ATTRIBUTES[child.tagName] || [];
    for (const attr of [...child.attributes]) {
      if (!allowed.includes(attr.name)) child.removeAttribute(attr.name);
    }
    if (child.tagName === "A" && !/^(https?:|mailto:)/i.test(child.getAttribute("href") || "")) {
      child.removeAttribute("href");
    }
    clean(child);
  }
}

export function mentionsMe(message, me) {
  if (!message || message.deleted || !message.sender || message.sender.id === me.id) return false;
  return Boolean(message.mentions_all || (message.mentions || []).includes(me.id));
}

// The body of a message: its server-rendered HTML when it has one, else `fallback()`.
export function messageBody(message, me, fallback) {
  if (typeof message.html !== "string" || !message.html) return el("div", { class: "body" }, fallback());
  const template = document.createElement("template");
  template.innerHTML = message.html;
  clean(template.content);
  for (const span of template.content.querySelectorAll("span.mention")) {
    if (span.classList.contains("mention-all") || span.dataset.userId === String(me.id)) {
      span.classList.add("mention-me");
    }
  }
  const node = el("div", { class: "body rich" });
  node.append(template.content);
  return node;
}

// `@` in the composer lists the conversation's members; arrows move, Enter or Tab picks,
// Escape closes. `members()` returns [{id, username}] of the open conversation.
export function setUpMentionAutocomplete(form, input, members, me) {
  const list = el("ul", { id: "mention-list", class: "mention-list", role: "listbox", "aria-label": "Members" });
  list.hidden = true;
  form.append(list);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "mention-list");
  let options = [];
  let active = 0;
  let start = -1;

  const close = () => {
    list.hidden = true;
    options = [];
    start = -1;
    input.removeAttribute("aria-activedescendant");
  };
  const pick = (user) => {
    const before = input.value.slice(0, start);
    const after = input.value.slice(input.selectionStart);
    input.value = `${before}@${user.username} ${after}`;
    const caret = before.length + user.username.length + 2;
    input.setSelectionRange(caret, caret);
    close();
    input.focus();
  };
  const show = () => {
    list.replaceChildren(
      ...options.map((user, index) =>
        el(
          "li",
          {
            id: `mention-option-${index}`,
            role: "option",
            class: "mention-option",
            "aria-selected": index === active ? "true" : "false",
            onmousedown: (event) => {
              event.preventDefault();
              pick(user);
            },
          },
          `@${user.username}`,
        ),
      ),
    );
    list.hidden = options.length === 0;
    if (options.length) input.setAttribute("aria-activedescendant", `mention-option-${active}`);
  };
  input.addEventListener("input", () => {
    const upto = input.value.slice(0, input.selectionStart);
    const match = upto.match(/(^|[^\w@])@([\w.+-]*)$/);
    if (!match) return close();
    start = upto.length - match[2].length - 1;
    const prefix = match[2].toLowerCase();
    const everyone = [{ id: 0, username: "all" }];
    options = [...(members() || []), ...everyone]
      .filter((user) => user.id !== me.id && user.username.toLowerCase().startsWith(prefix))
      .slice(0, 8);
    active = 0;
    show();
  });
  // Capture on the form: runs before the composer's own Enter-sends handler.
  form.addEventListener(
    "keydown",
    (event) => {
      if (list.hidden || !options.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
        show();
      } else if (event.key === "Enter" || event.key === "Tab") {
        pick(options[active]);
      } else if (event.key === "Escape") {
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    },
    true,
  );
  input.addEventListener("blur", () => setTimeout(close, 150));
}
