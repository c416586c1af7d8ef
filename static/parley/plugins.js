// Where feature modules plug into the chat page. A feature module exports
// `setUp(ctx)` and is listed in FEATURE_MODULES; it gets:
//   ctx.client               the SDK (client.js): client.on("frame", fn) for its frame types,
//                            client.sendFrame(frame), client.features (the ready frame's flags)
//   ctx.api(method, path, body)  REST with the session cookie and CSRF token (api.js)
//   ctx.toast(text, {kind})  feedback where the user is looking (feedback.js)
//   ctx.confirmDialog({...}) the page's own confirmation dialog, resolves true/false
//   ctx.currentConversation() the open conversation's state, or null
// A module that is listed but missing (not merged yet) is skipped. See docs/ui.md.

const FEATURE_MODULES = [
  // "./lifecycle.js",   // retention notice, export, account deletion (data lifecycle issue)
];

export async function setUpFeatureModules(ctx, names = FEATURE_MODULES) {
  for (const name of names) {
    try {
      const module = await import(name);
      if (typeof module.setUp === "function") module.setUp(ctx);
    } catch (error) {
      console.warn(`feature module ${name} not loaded`, error);
    }
  }
}
