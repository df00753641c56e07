// call_table.h: live call ids of one engine.
//
// Invariants: an id maps to at most one call; an entry holds one reference
// to its call; an entry is removed only by that call's completion (after
// its callback returned), never by cancel. Sharded by id: each shard has its
// own mutex, held only for a hash-map operation (which cannot leave the lock
// held: std::lock_guard releases it on every path, including bad_alloc).
// No other lock is ever taken while a shard lock is held.
#pragma once

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "runtime/call.h"

namespace brake::runtime {

class CallTable {
public:
  // Inserts `call` (taking a reference) unless its id is live. Any thread.
  bool insert(Call* call);
  // Looks up `id` and returns the call with a new reference, or nullptr.
  Call* find(brake_call_id id);
  // Removes `call` (must be present) and drops the table's reference.
  void remove(Call* call);
  size_t size() const { return m_size.load(std::memory_order_acquire); }
  // Calls `fn` on every live call (holding a reference during the call).
  template <typename Fn> void for_each(Fn fn);

private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<brake_call_id, Call*> calls;
  };
  Shard& shard(brake_call_id id) { return m_shards[(id * 0x9E3779B97F4A7C15ull) >> 60]; }

  Shard m_shards[kShards];
  std::atomic<size_t> m_size{0};
};

template <typename Fn> void CallTable::for_each(Fn fn) {
  for (Shard& s : m_shards) {
    std::vector<Call*> calls;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      calls.reserve(s.calls.size());
      for (auto& [id, call] : s.calls) {
        call->retain();
        calls.push_back(call);
      }
    }
    for (Call* c : calls) {
      fn(c);
      c->release();
    }
  }
}

} // namespace brake::runtime
