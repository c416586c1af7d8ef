// Desktop notifications (while the tab is hidden), Web Push (when the server has a VAPID key),
// and forgetting this browser's push subscription on log out.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

// ctx: {actions: {openConversation}}
export function createNotifications(ctx) {
  const serviceWorker = document.body.dataset.serviceWorker;

  function notify(conv, message) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden) return;
    const sender = message.sender ? message.sender.username : "Parley";
    const note = new Notification(conv.kind === "direct" ? sender : `${sender} · ${conv.title}`, {
      body: (message.body || "").slice(0, 140),
      tag: `conversation-${conv.id}`,
    });
    note.addEventListener("click", () => {
      window.focus();
      ctx.actions.openConversation(conv);
      note.close();
    });
  }

  function setUpButton() {
    const button = $("notify-button");
    if (!("Notification" in window)) return;
    if (Notification.permission === "granted") subscribeWebPush();
    if (Notification.permission !== "default") return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await Notification.requestPermission();
      button.hidden = Notification.permission !== "default";
      if (Notification.permission === "granted") subscribeWebPush();
    });
  }

  // Any failure (no push service, no key, an older server) leaves in-page notifications only.
  async function subscribeWebPush() {
    try {
      const config = await api("GET", "/api/push/webpush/");
      if (!config || !config.enabled || !config.public_key) return;
      if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
      const registration = await navigator.serviceWorker.register(serviceWorker);
      const subscription =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: base64UrlBytes(config.public_key),
        }));
      await api("POST", "/api/push/webpush/subscriptions/", subscription.toJSON());
    } catch {
      /* no Web Push here */
    }
  }

  // Logging out forgets this browser's push subscription, so the next person here gets none.
  function setUpLogout() {
    const form = document.querySelector("form.logout");
    let done = false;
    form.addEventListener("submit", async (event) => {
      if (done) return;
      event.preventDefault();
      try {
        const registration = "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration(serviceWorker) : null;
        const subscription = registration && (await registration.pushManager.getSubscription());
        if (subscription) {
          await api("DELETE", "/api/push/webpush/subscriptions/", { endpoint: subscription.endpoint });
          await subscription.unsubscribe();
        }
      } catch {
        /* log out anyway */
      }
      done = true;
      form.submit();
    });
  }

  setUpButton();
  setUpLogout();
  return { notify };
}

function base64UrlBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
