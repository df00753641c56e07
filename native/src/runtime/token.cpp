#include "runtime/token.h"

#include "runtime/worker.h"

namespace brake::runtime {

bool token_attach(brake_token* t, Call* call) {
  std::lock_guard<std::mutex> lock(t->mu);
  if (t->cancelled.load(std::memory_order_acquire)) return false;
  call->token = t;
  call->token_index = t->calls.size();
  t->calls.push_back(call);
  token_retain(t);
  return true;
}

void token_detach(Call* call) {
  brake_token* t = call->token;
  if (!t) return;
  {
    std::lock_guard<std::mutex> lock(t->mu);
    size_t i = call->token_index;
    Call* last = t->calls.back();
    t->calls[i] = last;
    last->token_index = i;
    t->calls.pop_back();
    call->token = nullptr;
  }
  token_release(t);
}

size_t token_cancel(brake_token* t) {
  std::lock_guard<std::mutex> lock(t->mu);
  if (t->cancelled.exchange(true, std::memory_order_acq_rel)) return 0;
  size_t flagged = 0;
  // One message per call; a worker already awake is not woken again (post()).
  for (Call* c : t->calls)
    if (c->request_cancel(BRAKE_ORIGIN_TOKEN)) {
      c->worker->post_cancel(c);
      flagged++;
    }
  return flagged;
}

void token_retain(brake_token* t) { t->refs.fetch_add(1, std::memory_order_relaxed); }

void token_release(brake_token* t) {
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete t;
}

} // namespace brake::runtime
