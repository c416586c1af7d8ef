// Link preview cards under a message (the server's `previews`, filled in by `preview` frames).
// Title and description become text nodes only. The page's image is not loaded: a third-party
// image would tell that site who reads the chat (and the CSP allows images from Parley only).

import { el } from "./render.js";

export function previewsNode(previews) {
  if (!previews || previews.length === 0) return null;
  return el(
    "ul",
    { class: "link-previews" },
    ...previews.map((preview) =>
      el(
        "li",
        { class: "link-preview" },
        el(
          "a",
          { href: preview.url, target: "_blank", rel: "noopener noreferrer nofollow" },
          el("strong", { class: "link-preview-title" }, preview.title),
        ),
        preview.description ? el("p", { class: "link-preview-description" }, preview.description) : null,
        el("span", { class: "link-preview-host" }, hostOf(preview.url)),
      ),
    ),
  );
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

// A `preview` frame: the message's previews are ready. Returns the conversation changed, if any.
export function applyPreview(conversations, frame) {
  const conv = conversations.get(frame.conversation);
  const message = conv && conv.messages.get(frame.seq);
  if (!message || String(message.id) !== String(frame.id)) return null;
  conv.messages.set(frame.seq, { ...message, previews: frame.previews });
  return conv;
}
