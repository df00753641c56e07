// Timers a test server clears all at once when it closes (so a pending
// delay never outlives the server): later(ms, fn) schedules, clear() stops
// every one still pending.
export function serverTimers() {
  const timers = new Set();
  return {
    later(ms, fn) {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
      return t;
    },
    clear() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
