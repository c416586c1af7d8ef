// Per-conversation drafts in localStorage (`parley.drafts.<user id>`), so a reload or a crash
// keeps what was being written. No DOM.

export function createDrafts(userId, storage = globalThis.localStorage) {
  const key = `parley.drafts.${userId}`;

  function load() {
    try {
      const drafts = JSON.parse(storage.getItem(key) || "{}");
      return drafts && typeof drafts === "object" ? drafts : {};
    } catch {
      return {};
    }
  }

  // Writes the drafts of these conversations (the store's), replacing what was stored.
  function write(conversations) {
    const drafts = {};
    for (const conv of conversations) if (conv.draft) drafts[conv.id] = conv.draft;
    try {
      if (Object.keys(drafts).length) storage.setItem(key, JSON.stringify(drafts));
      else storage.removeItem(key);
    } catch {
      /* storage refused: drafts last as long as the page */
    }
  }

  return { load, write };
}
