// Service worker for Web Push (issue 6's offline push): shows a notification for a push the
// server sends while no Parley tab is visible. Payloads carry counts and names, never bodies.

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const conversation = data.conversation || {};
  const senders = Array.isArray(data.senders) ? data.senders.join(", ") : "";
  const count = Number(data.count) || 1;
  const direct = conversation.kind === "direct";
  const title = direct ? senders || conversation.title || "Parley" : conversation.title || "Parley";
  const from = !direct && senders ? ` from ${senders}` : "";
  const body = `${count} new message${count === 1 ? "" : "s"}${from}`;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((pages) => {
      if (pages.some((page) => page.visibilityState === "visible")) return undefined;
      return self.registration.showNotification(title, {
        body,
        tag: `conversation-${conversation.id}`,
      });
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients
      .matchAll({ type: "window", includeUncontrolled: true })
      .then((pages) => (pages.length ? pages[0].focus() : self.clients.openWindow("/"))),
  );
});
