// Files and images: the composer's attach button, drag and drop, pasted images, upload progress
// with cancel, and how a message's attachments look (thumbnails with a lightbox, file chips).
// Names and other user data become text nodes only (render.js's el()).

import { el } from "./render.js";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

const ERROR_TEXT = {
  file_too_large: (name, detail) => `“${name}” is too large. ${detail}`,
  quota_exceeded: (name, detail) => `“${name}” was not uploaded: ${detail}`,
  unsupported_file_type: (name) => `“${name}” is a program; programs cannot be shared.`,
  image_too_large: (name) => `“${name}” has too many pixels to be shown.`,
};

// POST /api/uploads/ with progress; resolves to the upload, rejects with {code, detail}.
function uploadFile(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201 && body) resolve(body);
      else reject({ code: body?.code || `http_${xhr.status}`, detail: body?.detail || `HTTP ${xhr.status}` });
    });
    xhr.addEventListener("error", () => reject({ code: "network", detail: "The upload failed (network)." }));
    xhr.addEventListener("abort", () => reject({ code: "aborted", detail: "Cancelled." }));
  });
  xhr.open("POST", "/api/uploads/");
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  const form = new FormData();
  form.append("file", file, file.name || "pasted-image.png");
  xhr.send(form);
  return { done, cancel: () => xhr.abort() };
}

// The composer's tray of files being uploaded / ready to send. `take()` hands the finished
// uploads to a send and empties the tray; `busy()` says whether some are still uploading.
export function setUpAttachments({ form, input, dropZone, onChange = () => {} }) {
  const items = []; // {file, status: uploading|ready|failed, progress, upload, error, cancel}
  const tray = el("ul", { class: "attachment-tray", "aria-label": "Files to send", hidden: true });
  const error = el("p", { class: "attachment-error", role: "alert" });
  const picker = el("input", { type: "file", multiple: true, class: "sr-only", tabindex: "-1", "aria-hidden": "true" });
  const button = el(
    "button",
    { type: "button", class: "attach-button", "aria-label": "Attach files", title: "Attach files" },
    "Attach",
  );
  form.insertBefore(tray, input);
  form.insertBefore(error, tray);
  form.insertBefore(button, input);
  form.append(picker);

  const render = () => {
    tray.replaceChildren(...items.map(itemRow));
    tray.hidden = items.length === 0;
    onChange();
  };
  const itemRow = (item) => {
    const name = item.file.name || "pasted image";
    const state =
      item.status === "uploading"
        ? el("progress", { max: "1", value: String(item.progress), "aria-label": `Uploading ${name}` })
        : item.status === "failed"
          ? el("span", { class: "attachment-failed" }, "failed")
          : el("span", { class: "attachment-ready" }, "ready");
    return el(
      "li",
      { class: `attachment-item ${item.status}`, dataset: { status: item.status } },
      el("span", { class: "attachment-name" }, name),
      " ",
      el("span", { class: "attachment-size" }, formatSize(item.file.size)),
      " ",
      state,
      el(
        "button",
        { type: "button", class: "link attachment-cancel", "aria-label": `Remove ${name}`, onclick: () => remove(item) },
        item.status === "uploading" ? "Cancel" : "Remove",
      ),
    );
  };
  const remove = (item) => {
    if (item.status === "uploading") item.cancel();
    const index = items.indexOf(item);
    if (index >= 0) items.splice(index, 1);
    render();
  };
  const add = (files) => {
    error.textContent = "";
    for (const file of files) {
      const item = { file, status: "uploading", progress: 0, upload: null, cancel: null };
      const { done, cancel } = uploadFile(file, (fraction) => {
        item.progress = fraction;
        const bar = tray.children[items.indexOf(item)]?.querySelector("progress");
        if (bar) bar.value = fraction;
      });
      item.cancel = cancel;
      items.push(item);
      done.then(
        (upload) => {
          item.status = "ready";
          item.upload = upload;
          render();
        },
        (failure) => {
          if (failure.code === "aborted") return;
          const name = item.file.name || "pasted image";
          const text = ERROR_TEXT[failure.code];
          error.textContent = text ? text(name, failure.detail) : `“${name}” was not uploaded: ${failure.detail}`;
          remove(item);
        },
      );
    }
    render();
  };

  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    add([...picker.files]);
    picker.value = "";
  });
  input.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) {
      event.preventDefault();
      add(files);
    }
  });
  dropZone.addEventListener("dragover", (event) => {
    if ([...(event.dataTransfer?.types || [])].includes("Files")) {
      event.preventDefault();
      dropZone.classList.add("dropping");
    }
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dropping"));
  dropZone.addEventListener("drop", (event) => {
    dropZone.classList.remove("dropping");
    const files = [...(event.dataTransfer?.files || [])];
    if (files.length && !form.hidden) {
      event.preventDefault();
      add(files);
    }
  });

  return {
    busy: () => items.some((item) => item.status === "uploading"),
    ready: () => items.some((item) => item.status === "ready"),
    // The finished uploads (at most 10 per message: the rest stay for the next one).
    take() {
      const ready = items.filter((item) => item.status === "ready").slice(0, 10);
      for (const item of ready) items.splice(items.indexOf(item), 1);
      render();
      return ready.map((item) => item.upload);
    },
    clear() {
      for (const item of [...items]) remove(item);
      error.textContent = "";
    },
  };
}

// The one lightbox of the page, made on first use; the page holds it, not this module.
function openLightbox(attachment) {
  let lightbox = document.querySelector("dialog.lightbox");
  if (!lightbox) {
    const image = el("img", { class: "lightbox-image", alt: "" });
    const caption = el("a", { class: "lightbox-caption", target: "_blank", rel: "noopener" });
    const close = el("button", { type: "button", class: "lightbox-close", "aria-label": "Close" }, "×");
    lightbox = el("dialog", { class: "lightbox", "aria-label": "Image" }, close, image, caption);
    close.addEventListener("click", () => lightbox.close());
    lightbox.addEventListener("click", (event) => {
      if (event.target === lightbox) lightbox.close();
    });
    document.body.append(lightbox);
  }
  const [, image, caption] = lightbox.children;
  image.src = attachment.url;
  image.alt = attachment.name;
  caption.href = attachment.url;
  caption.textContent = `${attachment.name} (${formatSize(attachment.size)})`;
  lightbox.showModal();
}

// A message's attachments: image thumbnails opening a lightbox, other files as chips.
export function attachmentsNode(attachments) {
  if (!attachments || attachments.length === 0) return null;
  const list = el("ul", { class: "attachments" });
  for (const attachment of attachments) {
    if (attachment.thumbnail_url) {
      const img = el("img", {
        src: attachment.thumbnail_url,
        alt: attachment.name,
        loading: "lazy",
        width: attachment.width ? Math.min(240, attachment.width) : null,
      });
      list.append(
        el(
          "li",
          { class: "attachment image" },
          el(
            "a",
            {
              href: attachment.url,
              class: "thumbnail",
              title: attachment.name,
              onclick: (event) => {
                event.preventDefault();
                openLightbox(attachment);
              },
            },
            img,
          ),
        ),
      );
    } else {
      list.append(
        el(
          "li",
          { class: "attachment file" },
          el(
            "a",
            { href: attachment.url, class: "file-chip", download: attachment.name },
            el("span", { class: "file-name" }, attachment.name),
            " ",
            el("span", { class: "file-size" }, formatSize(attachment.size)),
          ),
        ),
      );
    }
  }
  return list;
}
