// call_table.h: live call ids of one engine.
//
// Invariants: an id maps to at most one call; an entry holds one reference
// to its call; an entry is removed only by that call's completion (after
// its callback returned), never by cancel. Sharded by id: each shard has its
// own mutex, held only for a bucket operation (std::lock_guard releases it
// on every path, including bad_alloc). No other lock is ever taken while a
// shard lock is held.
//
// Memory: the table is intrusive. Each shard is an array of bucket heads
// and each call is in its bucket's doubly-linked chain (Call::table_next and
// table_pprev, the link pointing at it), so an entry costs two pointers in
// the call and about one bucket head: no node allocation per call, and
// removal writes to the neighbours without first reading the bucket (a
// dependent cache miss per call when 100k calls finish at once). A shard
// doubles its buckets when it holds more calls than buckets; when it holds
// fewer than 1/64 of them it shrinks to twice its count, so an emptied
// table returns to its small initial size after touching few calls.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

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
  // Live calls (a sum over the shards: exact when no insert or remove runs
  // concurrently).
  size_t size() const;
  // Starts fetching the table entries next to `call`, which remove(call)
  // will write: for loops that remove many calls scattered over memory. A
  // hint only; any thread, no lock (the links may change meanwhile).
  static void prefetch(const Call* call);
  // Calls `fn` on every live call (holding a reference during the call).
  template <typename Fn> void for_each(Fn fn);

private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMinBuckets = 8;
  // A cache line each: workers finishing calls in parallel bounce only the
  // lines of the shards they touch (there is no table-wide counter).
  struct alignas(64) Shard {
    std::mutex mu;
    std::unique_ptr<std::atomic<Call*>[]> buckets;
    size_t mask = 0; // bucket count - 1 (0 and no array until the first insert)
    std::atomic<size_t> count{0}; // written under mu, read by size() without it
  };
  static uint64_t hash(brake_call_id id) { return id * 0x9E3779B97F4A7C15ull; }
  // The top 4 bits of the hash pick the shard, the bits below them the bucket.
  Shard& shard(brake_call_id id) { return m_shards[hash(id) >> 60]; }
  static size_t bucket(const Shard& s, brake_call_id id) { return size_t(hash(id) >> 28) & s.mask; }
  static Call* find_in(Shard& s, brake_call_id id);
  static void link(std::atomic<Call*>& head, Call* call);
  static void rehash(Shard& s, size_t buckets);

  Shard m_shards[kShards];
};

template <typename Fn> void CallTable::for_each(Fn fn) {
  for (Shard& s : m_shards) {
    std::vector<Call*> calls;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      calls.reserve(s.count.load(std::memory_order_relaxed));
      for (size_t b = 0; s.buckets && b <= s.mask; b++)
        for (Call* c = s.buckets[b].load(std::memory_order_relaxed); c; c = c->table_next.load(std::memory_order_relaxed)) {
          c->retain();
          calls.push_back(c);
        }
    }
    for (Call* c : calls) {
      fn(c);
      c->release();
    }
  }
}

} // namespace brake::runtime
