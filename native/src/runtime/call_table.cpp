#include "runtime/call_table.h"

#include <new>

namespace brake::runtime {

// The links are atomic only for prefetch(): every access below holds the
// shard lock, so all are relaxed.
constexpr auto kRelaxed = std::memory_order_relaxed;

// The call with `id`, or nullptr. Shard lock held.
Call* CallTable::find_in(Shard& s, brake_call_id id) {
  if (!s.buckets) return nullptr;
  Call* c = s.buckets[bucket(s, id)].load(kRelaxed);
  while (c && c->id != id) c = c->table_next.load(kRelaxed);
  return c;
}

// Puts `call` at the front of the chain that starts at `head`.
void CallTable::link(std::atomic<Call*>& head, Call* call) {
  Call* first = head.load(kRelaxed);
  call->table_next.store(first, kRelaxed);
  call->table_pprev.store(&head, kRelaxed);
  if (first) first->table_pprev.store(&call->table_next, kRelaxed);
  head.store(call, kRelaxed);
}

// Redistributes the shard's calls over `buckets` (a power of two) heads.
// Shard lock held. Allocates first, so bad_alloc changes nothing.
void CallTable::rehash(Shard& s, size_t buckets) {
  std::unique_ptr<std::atomic<Call*>[]> heads(new std::atomic<Call*>[buckets]);
  for (size_t b = 0; b < buckets; b++) heads[b].store(nullptr, kRelaxed);
  size_t old_buckets = s.buckets ? s.mask + 1 : 0;
  std::unique_ptr<std::atomic<Call*>[]> old = std::move(s.buckets);
  s.buckets = std::move(heads);
  s.mask = buckets - 1;
  for (size_t b = 0; b < old_buckets; b++) {
    for (Call* c = old[b].load(kRelaxed); c;) {
      Call* next = c->table_next.load(kRelaxed);
      link(s.buckets[bucket(s, c->id)], c);
      c = next;
    }
  }
}

void CallTable::prefetch(const Call* call) {
  __builtin_prefetch(call->table_pprev.load(kRelaxed), 1);
  if (Call* next = call->table_next.load(kRelaxed)) __builtin_prefetch(&next->table_pprev, 1);
}

bool CallTable::insert(Call* call) {
  Shard& s = shard(call->id);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (find_in(s, call->id)) return false;
    size_t count = s.count.load(std::memory_order_relaxed);
    if (!s.buckets) rehash(s, kMinBuckets);
    else if (count + 1 > s.mask + 1) rehash(s, 2 * (s.mask + 1));
    link(s.buckets[bucket(s, call->id)], call);
    call->retain();
    s.count.store(count + 1, std::memory_order_release);
  }
  return true;
}

Call* CallTable::find(brake_call_id id) {
  Shard& s = shard(id);
  std::lock_guard<std::mutex> lock(s.mu);
  Call* call = find_in(s, id);
  if (call) call->retain();
  return call;
}

void CallTable::remove(Call* call) {
  Shard& s = shard(call->id);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    Call* next = call->table_next.load(kRelaxed);
    std::atomic<Call*>* pprev = call->table_pprev.load(kRelaxed);
    pprev->store(next, kRelaxed);
    if (next) next->table_pprev.store(pprev, kRelaxed);
    call->table_next.store(nullptr, kRelaxed);
    call->table_pprev.store(nullptr, kRelaxed);
    size_t count = s.count.load(std::memory_order_relaxed) - 1;
    s.count.store(count, std::memory_order_release);
    // Shrinking is best effort: without memory for the smaller array the
    // larger one simply stays.
    if (s.mask + 1 > kMinBuckets && count < (s.mask + 1) / 64) {
      size_t buckets = kMinBuckets;
      while (buckets < 2 * count) buckets *= 2;
      try {
        rehash(s, buckets);
      } catch (const std::bad_alloc&) {
      }
    }
  }
  call->release();
}

size_t CallTable::size() const {
  size_t n = 0;
  for (const Shard& s : m_shards) n += s.count.load(std::memory_order_acquire);
  return n;
}

} // namespace brake::runtime
