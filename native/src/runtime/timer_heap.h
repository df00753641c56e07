// timer_heap.h: a worker's timers (sleeps and call deadlines).
//
// A binary min-heap that tells each entry's owner where the entry is, so a
// cancelled sleep is removed at once (no lazily-expiring leftovers: a
// cancelled 10 s sleep leaves nothing behind). Worker thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include "runtime/call.h"

namespace brake::runtime {

enum class TimerKind : uint8_t { Sleep, Deadline };

class TimerHeap {
public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point when;
    uint64_t seq; // FIFO among equal deadlines
    Call* call;
    TimerKind kind;
  };

  bool empty() const { return m_heap.empty(); }
  size_t size() const { return m_heap.size(); }
  const Entry& top() const { return m_heap.front(); }

  void add(Clock::time_point when, Call* call, TimerKind kind) {
    m_heap.push_back(Entry{when, m_seq++, call, kind});
    place(m_heap.size() - 1);
    sift_up(m_heap.size() - 1);
  }

  // Removes the entry at `pos` (as recorded in its call).
  void remove(size_t pos) {
    size_t last = m_heap.size() - 1;
    slot_of(m_heap[pos]) = SIZE_MAX;
    if (pos != last) {
      m_heap[pos] = m_heap[last];
      place(pos);
    }
    m_heap.pop_back();
    if (pos < m_heap.size()) {
      sift_up(pos);
      sift_down(pos);
    }
  }

  Entry pop() {
    Entry e = m_heap.front();
    remove(0);
    return e;
  }

private:
  static size_t& slot_of(const Entry& e) { return e.kind == TimerKind::Sleep ? e.call->sleep_timer : e.call->deadline_timer; }
  static bool before(const Entry& a, const Entry& b) { return a.when < b.when || (a.when == b.when && a.seq < b.seq); }
  void place(size_t i) { slot_of(m_heap[i]) = i; }
  void swap_entries(size_t a, size_t b) {
    std::swap(m_heap[a], m_heap[b]);
    place(a);
    place(b);
  }
  void sift_up(size_t i) {
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!before(m_heap[i], m_heap[parent])) break;
      swap_entries(i, parent);
      i = parent;
    }
  }
  void sift_down(size_t i) {
    for (;;) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < m_heap.size() && before(m_heap[l], m_heap[m])) m = l;
      if (r < m_heap.size() && before(m_heap[r], m_heap[m])) m = r;
      if (m == i) break;
      swap_entries(i, m);
      i = m;
    }
  }

  std::vector<Entry> m_heap;
  uint64_t m_seq = 0;
};

} // namespace brake::runtime
