// token.h: brake_token, a cancellation token shared by many calls.
//
// Invariants: `calls` lists exactly the live calls started with this token
// that have not finished (each knows its index: O(1) detach). Once
// `cancelled` is set it stays set, and attach() refuses new calls, so a
// call either is flagged by cancel() or sees the token cancelled when it
// attaches — never neither. Lock order: token mutex, then a worker's inbox
// mutex (cancel posts to workers while holding it); nothing takes the token
// mutex while holding a worker's.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "runtime/call.h"

struct brake_token {
  std::atomic<uint32_t> refs{1};
  std::mutex mu;
  std::atomic<bool> cancelled{false};
  std::vector<brake::runtime::Call*> calls;
};

namespace brake::runtime {

// Adds `call` (sets call->token). False when the token is already cancelled.
bool token_attach(brake_token* t, Call* call);
// Removes a finished call. Worker thread of the call.
void token_detach(Call* call);
size_t token_cancel(brake_token* t);
void token_retain(brake_token* t);
void token_release(brake_token* t);

} // namespace brake::runtime
