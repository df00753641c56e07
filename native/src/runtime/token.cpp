#include "runtime/token.h"

#include <algorithm>

#include "runtime/worker.h"

namespace brake::runtime {

bool token_attach(brake_token* t, Call* call) {
  std::lock_guard<std::mutex> lock(t->mu);
  if (t->cancelled.load(std::memory_order_acquire)) return false;
  call->token = t;
  call->token_index = uint32_t(t->calls.size());
  t->calls.push_back(call);
  token_retain(t);
  return true;
}

namespace {
// Reallocates `calls` to twice its size; keeps it as it is when out of memory.
void shrink_list(std::vector<Call*>& calls) {
  try {
    std::vector<Call*> smaller;
    smaller.reserve(2 * calls.size());
    smaller.assign(calls.begin(), calls.end());
    calls.swap(smaller);
  } catch (const std::bad_alloc&) {
  }
}
} // namespace

brake_token* token_unlink(Call* call) {
  brake_token* t = call->token;
  if (!t) return nullptr;
  call->token = nullptr;
  // After a cancel the list is gone: nothing to unlink, no lock to take (a
  // mass cancel finishes its calls without contending on the mutex).
  if (t->swept.load(std::memory_order_acquire)) return t;
  std::lock_guard<std::mutex> lock(t->mu);
  if (!t->swept.load(std::memory_order_relaxed)) {
    size_t i = call->token_index;
    Call* last = t->calls.back();
    t->calls[i] = last;
    last->token_index = uint32_t(i);
    t->calls.pop_back();
    // Give a burst's memory back (amortised O(1): it halves at most once per
    // growth).
    if (t->calls.capacity() > 1024 && t->calls.size() < t->calls.capacity() / 4) shrink_list(t->calls);
  }
  return t;
}

void token_detach(Call* call) {
  if (brake_token* t = token_unlink(call)) token_release(t);
}

namespace {
// Posts a cancel for `c`, adopting the reference taken for it. Without
// memory for the message the call, already flagged, stops at its next
// checkpoint instead.
void post_one(Call* c) {
  try {
    c->worker->post_cancel(c);
  } catch (const std::bad_alloc&) {
  }
  c->release();
}
} // namespace

size_t token_cancel(brake_token* t) {
  // The flagged calls, grouped by worker: one message per worker, posted
  // after the pass and the workers woken only then (on a machine with few
  // cores, a worker woken earlier would take the core of this thread, which
  // is often the host's event loop).
  struct Group {
    Worker* worker;
    std::unique_ptr<Worker::CallBatch> calls;
  };
  std::vector<Group> groups;
  std::vector<Call*> calls;
  size_t flagged = 0;
  // Calls that could not join a group (out of memory), moved to the front
  // of `calls` (positions already visited): posted one by one after the
  // lock is released.
  size_t alone = 0;
  {
    std::lock_guard<std::mutex> lock(t->mu);
    if (t->cancelled.exchange(true, std::memory_order_acq_rel)) return 0;
    calls.swap(t->calls);
    // The calls are scattered over memory: fetch a few ahead so their cache
    // misses overlap. Each call this cancel flags gets a reference for its
    // message.
    constexpr size_t kAhead = 8;
    Group* group = nullptr;
    for (size_t i = 0; i < calls.size(); i++) {
      if (i + kAhead < calls.size()) __builtin_prefetch(calls[i + kAhead], 1);
      Call* c = calls[i];
      if (!c->request_cancel(BRAKE_ORIGIN_TOKEN)) continue;
      c->retain();
      flagged++;
      try {
        if (!group || group->worker != c->worker) {
          // Starts go to workers in runs: look the group up only when the
          // worker changes. A group reserves room for every remaining call
          // (untouched reserved memory costs no page), so it never regrows.
          auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.worker == c->worker; });
          if (it == groups.end()) {
            auto batch = std::make_unique<Worker::CallBatch>();
            batch->reserve(calls.size() - i);
            groups.push_back(Group{c->worker, std::move(batch)});
            it = groups.end() - 1;
          }
          group = &*it;
        }
        group->calls->push_back(c);
      } catch (const std::bad_alloc&) {
        group = nullptr;
        calls[alone++] = c;
      }
    }
    t->swept.store(true, std::memory_order_release);
  }
  for (size_t i = 0; i < alone; i++) post_one(calls[i]);
  for (Group& g : groups)
    if (!g.worker->post_cancels_quietly(std::move(g.calls))) g.worker = nullptr; // finished at once
  for (Group& g : groups)
    if (g.worker) g.worker->wake();
  return flagged;
}

void token_retain(brake_token* t) { t->refs.fetch_add(1, std::memory_order_relaxed); }

void token_release(brake_token* t, uint32_t n) {
  if (t->refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete t;
}

} // namespace brake::runtime
