// One render per animation frame, however many state changes asked for it (a sync of 500
// messages is one render, not 500). Hidden tabs get no animation frames: a short timer keeps the
// title's unread count current there.
//
// `refresh(part)` marks a part of the screen ("sidebar", "header", "messages", "typing") as
// stale; `render(parts)` is called once with the set of stale parts.

export function createScheduler(render, { frame = (fn) => requestAnimationFrame(fn) } = {}) {
  const stale = new Set();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const parts = new Set(stale);
    stale.clear();
    render(parts);
  };
  return {
    refresh(...parts) {
      for (const part of parts) stale.add(part);
      if (scheduled) return;
      scheduled = true;
      if (document.hidden) setTimeout(flush, 50);
      else frame(flush);
    },
    // Renders what is stale now (before measuring the DOM, e.g. to keep a row in place).
    flush() {
      if (scheduled || stale.size) flush();
    },
  };
}
