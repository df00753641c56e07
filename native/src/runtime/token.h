// token.h: brake_token, a cancellation token shared by many calls.
//
// Invariants: until the token is cancelled, `calls` lists exactly the live
// calls started with this token that have not finished (each knows its
// index: O(1) detach). Once `cancelled` is set it stays set, and attach()
// refuses new calls, so a call either is flagged by cancel() or sees the
// token cancelled when it attaches — never neither. cancel() flags every
// listed call under the mutex (taking a reference to each one it flagged),
// then empties `calls` and sets `swept`, all in one critical section: from
// then on nothing reads the list, so finishing calls detach without taking
// the mutex, and cancel() posts the flagged calls to their workers after
// releasing it. cancel() takes no other lock while it holds the token's;
// nothing takes the token mutex while holding a worker's (a thread standing
// in for a worker holds no worker mutex, see worker.h).
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "runtime/call.h"

struct brake_token {
  std::atomic<uint32_t> refs{1};
  std::mutex mu;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> swept{false}; // cancelled, and `calls` emptied for good
  std::vector<brake::runtime::Call*> calls;
};

namespace brake::runtime {

// Adds `call` (sets call->token). False when the token is already cancelled.
bool token_attach(brake_token* t, Call* call);
// Removes a finished call from its token's list and clears call->token.
// Returns the token, whose reference (the call's) the caller now owns and
// must drop with token_release, or nullptr when the call had no token.
brake_token* token_unlink(Call* call);
// token_unlink, then drops the reference.
void token_detach(Call* call);
size_t token_cancel(brake_token* t);
void token_retain(brake_token* t);
// Drops `n` references.
void token_release(brake_token* t, uint32_t n = 1);

} // namespace brake::runtime
