// timer_heap.h: a worker's timers (sleeps and call deadlines).
//
// A binary min-heap of small entries (deadline, sequence, handle). A timer's
// owner knows it by a stable handle: an index into m_slots, which holds the
// timer's call and kind. Moving entries inside the heap touches nothing but
// the heap array, so adding, firing and removing never write to (and so never
// miss the cache on) the calls of other timers.
//
// Removal leaves a tombstone: the handle's slot is cleared at once (O(1)) and
// its heap entry is dropped later, when it is found at the top or when the
// heap is compacted. Invariants:
//  - size() counts live timers only; tombstones are never reported.
//  - next_when() first drops the tombstones at the top, so it is the next
//    real deadline: a worker never wakes early for a cancelled 10 s sleep.
//    pop_due() drops only tombstones that are due themselves. (Dropping them
//    lazily, not in remove(), matters for a mass cancel: it removes the
//    timers in about the heap's own order, and one sift per removal would
//    cost O(log n) cache misses each; instead they usually all go at once
//    when the last live timer does.)
//  - Tombstones never outnumber live timers: when they would, the heap is
//    compacted in O(n), i.e. amortised O(1) per removal. When the last live
//    timer goes, everything is dropped and oversized arrays are freed, so a
//    mass cancel leaves nothing behind.
//  - A slot is reused only after its heap entry is gone.
//  - Only add() can fail (std::bad_alloc, and then it changes nothing):
//    removing, firing and compacting allocate nothing (free slots are a
//    list threaded through m_slots) beyond shrink_to_fit, which gives up
//    quietly when memory is short.
// Worker thread only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/call.h"

namespace brake::runtime {

enum class TimerKind : uint8_t { Sleep, Deadline };

class TimerHeap {
public:
  using Clock = std::chrono::steady_clock;
  struct Due {
    Clock::time_point when;
    Call* call;
    TimerKind kind;
  };

  bool empty() const { return m_live == 0; }
  // Live timers.
  size_t size() const { return m_live; }
  // Heap entries including tombstones (for tests of compaction).
  size_t stored() const { return m_heap.size(); }
  // The earliest live deadline. Not empty().
  Clock::time_point next_when() {
    drop_dead_tops();
    return Clock::time_point(Clock::duration(m_heap.front().when));
  }

  // Adds a timer and records its handle in the call (slot_of). All or
  // nothing: if an allocation fails (std::bad_alloc), the heap is as it was.
  void add(Clock::time_point when, Call* call, TimerKind kind) {
    uint32_t slot = m_free_head != 0 ? m_free_head - 1 : uint32_t(m_slots.size());
    m_heap.push_back(Entry{when.time_since_epoch().count(), m_seq, slot});
    if (m_free_head != 0) {
      m_free_head = uint32_t(m_slots[slot] >> 2);
      m_slots[slot] = tag(call, kind);
    } else {
      try {
        m_slots.push_back(tag(call, kind));
      } catch (...) {
        m_heap.pop_back();
        throw;
      }
    }
    m_seq++;
    std::push_heap(m_heap.begin(), m_heap.end(), Later());
    slot_of(call, kind) = slot;
    m_live++;
  }

  // Removes the timer with handle `slot` (as recorded in its call), which
  // must be live, and clears the call's handle.
  void remove(uint32_t slot) {
    uintptr_t word = m_slots[slot];
    slot_of(call_of(word), kind_of(word)) = kNoTimer;
    m_slots[slot] = 0; // tombstone until its entry leaves the heap
    m_live--;
    m_dead++;
    settle();
  }

  // When the earliest live timer is due at `now`, removes it into `due`,
  // clears the call's handle and returns true.
  bool pop_due(Clock::time_point now, Due& due) {
    int64_t limit = now.time_since_epoch().count();
    while (!m_heap.empty() && m_heap.front().when <= limit) {
      uintptr_t word = m_slots[m_heap.front().slot];
      if (word == 0) {
        drop_top();
        m_dead--;
        continue;
      }
      due = Due{Clock::time_point(Clock::duration(m_heap.front().when)), call_of(word), kind_of(word)};
      slot_of(due.call, due.kind) = kNoTimer;
      drop_top();
      m_live--;
      settle();
      return true;
    }
    return false;
  }

  // Removes and returns the earliest timer (not empty()), due or not.
  Due pop() {
    Due due;
    pop_due(next_when(), due);
    return due;
  }

private:
  // 16 bytes. `seq` orders equal deadlines first-in first-out; it is
  // compared with wrap-around, which is exact as long as two timers with the
  // same deadline (to the nanosecond) are added fewer than 2^31 timers apart.
  struct Entry {
    int64_t when; // steady_clock ticks
    uint32_t seq;
    uint32_t slot;
  };
  // Heap order for the std:: heap algorithms (a max-heap of "later"). A
  // function object, so the algorithms inline it.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.when > b.when || (a.when == b.when && int32_t(a.seq - b.seq) > 0);
    }
  };
  // A slot holds the call pointer with the kind in its low bit (calls are
  // at least 8-byte aligned); 0 for a tombstone (its entry is still in the
  // heap); or, once its entry has left the heap, a link of the free list:
  // (next free slot + 1) << 2 | kFree. The list lives in the slots, so
  // freeing never allocates.
  static constexpr uintptr_t kFree = 2;
  static uintptr_t tag(Call* call, TimerKind kind) { return reinterpret_cast<uintptr_t>(call) | uintptr_t(kind); }
  static Call* call_of(uintptr_t word) { return reinterpret_cast<Call*>(word & ~uintptr_t(1)); }
  static TimerKind kind_of(uintptr_t word) { return TimerKind(word & 1); }
  static uint32_t& slot_of(Call* call, TimerKind kind) {
    return kind == TimerKind::Sleep ? call->sleep_timer : call->deadline_timer;
  }

  // Slot `slot` (its entry gone from the heap) joins the free list.
  void free_slot(uint32_t slot) {
    m_slots[slot] = uintptr_t(m_free_head) << 2 | kFree;
    m_free_head = slot + 1;
  }

  void drop_top() {
    free_slot(m_heap.front().slot);
    std::pop_heap(m_heap.begin(), m_heap.end(), Later());
    m_heap.pop_back();
  }

  // Not empty(): the top is then live.
  void drop_dead_tops() {
    while (m_slots[m_heap.front().slot] == 0) {
      drop_top();
      m_dead--;
    }
  }

  // Restores the invariants after a removal.
  void settle() {
    if (m_live == 0) reset();
    else if (m_dead > m_live) compact();
  }

  // Drops every tombstone and rebuilds the heap.
  void compact() {
    size_t kept = 0;
    for (const Entry& e : m_heap) {
      if (m_slots[e.slot] == 0) free_slot(e.slot);
      else m_heap[kept++] = e;
    }
    m_heap.resize(kept);
    m_dead = 0;
    std::make_heap(m_heap.begin(), m_heap.end(), Later());
    if (m_heap.capacity() > kKeepCapacity && m_heap.capacity() > 4 * m_heap.size()) m_heap.shrink_to_fit();
  }

  // No live timer: drop every entry and slot, and free oversized arrays.
  void reset() {
    m_heap.clear();
    m_slots.clear();
    m_free_head = 0;
    m_dead = 0;
    if (m_heap.capacity() > kKeepCapacity) m_heap.shrink_to_fit();
    if (m_slots.capacity() > kKeepCapacity) m_slots.shrink_to_fit();
  }

  // Arrays this small are kept when they empty (no churn for a worker that
  // runs a few sleeps at a time).
  static constexpr size_t kKeepCapacity = 64;

  std::vector<Entry> m_heap;
  std::vector<uintptr_t> m_slots;
  uint32_t m_free_head = 0; // first free slot + 1 (0: none)
  size_t m_live = 0;
  size_t m_dead = 0;
  uint32_t m_seq = 0;
};

} // namespace brake::runtime
