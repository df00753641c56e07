#include "runtime/worker.h"

#include <new>

#include "runtime/engine.h"
#include "runtime/token.h"
#include "runtime/value_convert.h"

namespace brake::runtime {

using Clock = std::chrono::steady_clock;

namespace {
thread_local bool t_on_worker = false;
// A computing call shares its worker in slices this long when other calls
// are ready to run.
constexpr auto kSlice = std::chrono::milliseconds(2);
// How long an idle worker polls its inbox before blocking.
constexpr auto kSpin = std::chrono::microseconds(50);
// Message and call arrays up to this many entries are kept for reuse.
constexpr size_t kKeepCapacity = 4096;
// At most this many cancels are finished by the cancelling thread in a
// waiting worker's place; more (a mass cancel) go to the worker, so the
// host thread (often an event loop) is not the one doing the work.
constexpr size_t kMaxCancelsHere = 16;
} // namespace

bool on_worker_thread() { return t_on_worker; }

Worker::Worker(Engine& engine) : m_engine(engine) {}

Worker::~Worker() {
  // Messages posted after the thread finished its last call (a cancel racing
  // the end of a call) only hold references.
  for (Message& m : m_inbox) discard(m);
  flush_token_refs();
}

void Worker::start() {
  m_thread = std::thread([this] {
    t_on_worker = true;
    loop();
  });
}

void Worker::join() {
  if (m_thread.joinable()) m_thread.join();
}

// With m_mu held: if this worker is blocked waiting (so its state is ours,
// see the stand-in rule in worker.h), finishes the cancels of `calls` here
// and delivers them, and returns true. The calls are already flagged; a
// call that is not sleeping is left to its phase (the worker is waiting, so
// none is running). The references the caller holds for a message stay the
// caller's.
bool Worker::finish_cancels_here(Call* const* calls, size_t n) {
  if (!m_waiting || m_stopping || n > kMaxCancelsHere || !m_engine.may_finish_off_worker()) return false;
  for (size_t i = 0; i < n; i++) on_cancel(calls[i]);
  try {
    m_engine.deliver(m_finished);
  } catch (const std::bad_alloc&) {
    // Still in m_finished: the worker delivers them once woken.
    m_waiting = false;
    m_cv.notify_one();
  }
  flush_token_refs();
  m_timer_count.store(m_timers.size(), std::memory_order_relaxed);
  return true;
}

void Worker::cancel_call(Call* call) {
  {
    std::lock_guard<std::mutex> lock(m_mu);
    if (finish_cancels_here(&call, 1)) return;
  }
  post_cancel(call);
}

void Worker::post(MessageKind kind, Call* call) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    m_inbox.push_back(Message{kind, {call}});
    if (call) call->retain(); // only once queued: a failed push leaks nothing
    wake = m_waiting;
    m_waiting = false;
  }
  interrupt();
  if (wake) m_cv.notify_one();
}

bool Worker::post_cancels_quietly(std::unique_ptr<CallBatch> calls) {
  try {
    std::lock_guard<std::mutex> lock(m_mu);
    if (finish_cancels_here(calls->data(), calls->size())) {
      for (Call* c : *calls) c->release();
      return false;
    }
    Message m{MessageKind::CancelMany, {nullptr}};
    m.calls = calls.get();
    m_inbox.push_back(m);
    calls.release(); // now owned by the message
  } catch (const std::bad_alloc&) {
    for (Call* c : *calls) c->release();
  }
  return true;
}

void Worker::wake() {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    wake = m_waiting;
    m_waiting = false;
  }
  interrupt();
  if (wake) m_cv.notify_one();
}

// Blocks until there is something to do; returns false when the worker
// should exit.
bool Worker::wait_for_work(std::vector<Message>& batch) {
  std::unique_lock<std::mutex> lock(m_mu);
  bool spun = false;
  for (;;) {
    if (!m_inbox.empty() || !m_ready.empty()) break;
    if (m_stopping && m_calls == 0) return false;
    if (!spun) {
      // Before sleeping, stay awake a little: under a steady stream of calls
      // the next message usually arrives within microseconds, and a futex
      // wake-up per call would cost more than the call itself.
      spun = true;
      lock.unlock();
      auto until = Clock::now() + kSpin;
      while (!m_dispatch.interrupted() && Clock::now() < until)
        std::this_thread::yield();
      lock.lock();
      continue;
    }
    if (!m_timers.empty()) {
      auto when = m_timers.next_when();
      if (when <= Clock::now()) break;
      m_waiting = true;
      m_cv.wait_until(lock, when);
    } else {
      m_waiting = true;
      m_cv.wait(lock);
    }
    m_waiting = false;
  }
  batch.swap(m_inbox);
  m_dispatch.reset();
  return true;
}

void Worker::loop() {
  std::vector<Message> batch;
  while (wait_for_work(batch)) {
    for (const Message& m : batch) handle(m);
    batch.clear();
    fire_timers();
    m_engine.deliver(m_finished); // cancels settle before any script runs
    run_ready();
    m_engine.deliver(m_finished);
    flush_token_refs();
    // A burst (100k starts) leaves these arrays large: free them, so memory
    // returns to its baseline (the next burst grows them again).
    if (batch.capacity() > kKeepCapacity) std::vector<Message>().swap(batch);
    if (m_finished.capacity() > kKeepCapacity) std::vector<Call*>().swap(m_finished);
    m_timer_count.store(m_timers.size(), std::memory_order_relaxed);
  }
}

void Worker::handle(const Message& m) {
  switch (m.kind) {
  case MessageKind::Start: admit(m.call); break;
  case MessageKind::Cancel: on_cancel(m.call); break;
  case MessageKind::CancelMany: {
    // A mass cancel: the calls are scattered over memory, so fetch a few
    // ahead to overlap their cache misses, and drop each reference while
    // its call is still in the cache; deliver in slices, so the host starts
    // on the first completions while this thread goes on.
    constexpr size_t kAhead = 4, kSlice = 256;
    CallBatch* calls = m.calls;
    for (size_t i = 0; i < calls->size(); i++) {
      if (i + kAhead < calls->size()) prefetch_call((*calls)[i + kAhead]);
      Call* call = (*calls)[i];
      on_cancel(call);
      call->release();
      if (m_finished.size() >= kSlice) m_engine.deliver(m_finished);
    }
    delete calls;
    return;
  }
  case MessageKind::Stop: m_stopping = true; break;
  }
  discard(m);
}

// Drops the references a message holds.
void Worker::discard(const Message& m) {
  if (m.kind == MessageKind::CancelMany) {
    for (Call* c : *m.calls) c->release();
    delete m.calls;
  } else if (m.call) {
    m.call->release();
  }
}

// Admission checkpoint: a call cancelled before its worker saw it settles
// without running any code.
void Worker::admit(Call* call) {
  m_calls++;
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  if (call->deadline != Clock::time_point::max()) {
    try {
      m_timers.add(call->deadline, call, TimerKind::Deadline);
    } catch (const std::bad_alloc&) {
      fail_call(call, "out_of_memory", "out of memory arming the call's deadline");
      return;
    }
  }
  call->phase = Phase::Ready;
  m_ready.push_back(call);
}

// The call's state already carries the cancel; act on its phase.
void Worker::on_cancel(Call* call) {
  switch (call->phase) {
  case Phase::Sleeping: finish_cancelled(call, call->cancel_origin()); break;
  case Phase::Ready:   // finished when its turn in the ready queue comes
  case Phase::Queued:  // its Start is still in flight: admit() will see it
  case Phase::Done: break;
  }
}

void Worker::fire_timers() {
  if (m_timers.empty()) return;
  auto now = Clock::now();
  TimerHeap::Due e;
  while (m_timers.pop_due(now, e)) {
    Call* call = e.call;
    if (e.kind == TimerKind::Sleep) {
      call->fiber.resume(vm::Value::null());
      call->phase = Phase::Ready;
      m_ready.push_back(call);
    } else if (call->request_cancel(BRAKE_ORIGIN_TIMEOUT)) {
      on_cancel(call);
    }
  }
}

void Worker::run_ready() {
  // Run each call that is ready now once; calls that yield go to the back
  // and run again after the inbox and timers have been looked at.
  for (size_t n = m_ready.size(); n > 0 && !m_ready.empty(); n--) {
    Call* call = m_ready.front();
    m_ready.pop_front();
    if (call->phase != Phase::Ready) continue;
    run_call(call);
  }
}

void Worker::run_call(Call* call) {
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  vm::RunContext ctx;
  ctx.table = m_dispatch.entries();
  ctx.cancel_state = &call->state;
  // Others waiting on this worker: give the script a time slice, enforced
  // by the engine's ticker.
  if (!m_ready.empty() || !m_timers.empty()) {
    auto end = Clock::time_point::max();
    if (!m_ready.empty()) end = Clock::now() + kSlice;
    if (!m_timers.empty()) end = std::min(end, m_timers.next_when());
    m_slice_deadline.store(std::max<int64_t>(1, end.time_since_epoch().count()), std::memory_order_seq_cst);
    m_engine.ticker_wanted();
  }
  vm::RunStatus status;
  try {
    status = call->fiber.run(ctx);
  } catch (const std::exception& e) {
    // Out of memory (a runaway string or array) or another failure inside
    // the VM: this call fails; the worker and every other call carry on.
    m_slice_deadline.store(0, std::memory_order_relaxed);
    bool oom = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
    fail_call(call, oom ? "out_of_memory" : "internal", oom ? "out of memory" : e.what());
    return;
  }
  m_slice_deadline.store(0, std::memory_order_relaxed);

  switch (status) {
  case vm::RunStatus::Finished: finish_value(call); break;
  case vm::RunStatus::Failed: finish_error(call); break;
  case vm::RunStatus::Yielded: m_ready.push_back(call); break;
  case vm::RunStatus::Suspended: {
    // Checkpoint before starting an operation.
    if (brake_origin o = call->cancel_origin()) {
      finish_cancelled(call, o);
      break;
    }
    vm::Request r = call->fiber.request();
    try {
      m_timers.add(Clock::now() + clamp_wait(uint64_t(r.sleep_ms)), call, TimerKind::Sleep);
    } catch (const std::bad_alloc&) {
      fail_call(call, "out_of_memory", "out of memory starting the sleep");
      break;
    }
    call->phase = Phase::Sleeping;
    break;
  }
  }
}

void Worker::finish_value(Call* call) {
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  ValuePtr value;
  try {
    value = from_vm(m_engine.program(), call->fiber.result());
  } catch (const std::bad_alloc&) {
    finish_failed(call, vm::ScriptError{"out_of_memory", "out of memory returning the value", {}});
    return;
  }
  if (!value) {
    finish_failed(call, vm::ScriptError{"value_too_deep", "the returned value is nested more than " +
                                                              std::to_string(kMaxValueDepth) + " levels deep", {}});
    return;
  }
  brake_result& result = call->settle();
  result.value = std::move(value);
  result.status = BRAKE_OK;
  finish(call);
}

void Worker::finish_error(Call* call) {
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  finish_failed(call, call->fiber.error()); // copied before settle() ends the fiber
}

void Worker::fail_call(Call* call, const char* kind, std::string message) {
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  finish_failed(call, vm::ScriptError{kind, std::move(message), {}});
}

// Settles a call whose own outcome (already committed) is a script error.
void Worker::finish_failed(Call* call, vm::ScriptError error) {
  brake_result& result = call->settle();
  result.status = BRAKE_SCRIPT_ERROR;
  result.error = std::make_unique<vm::ScriptError>(std::move(error));
  finish(call);
}

void Worker::finish_cancelled(Call* call, brake_origin origin) {
  brake_result& result = call->settle();
  result.origin = origin;
  result.status = origin == BRAKE_ORIGIN_TIMEOUT ? BRAKE_TIMEOUT : BRAKE_CANCELLED;
  switch (origin) {
  case BRAKE_ORIGIN_TIMEOUT: result.fixed_message = "the call's deadline passed"; break;
  case BRAKE_ORIGIN_CLOSE: result.fixed_message = "the engine was closed"; break;
  case BRAKE_ORIGIN_TOKEN: result.fixed_message = "the call's token was cancelled"; break;
  case BRAKE_ORIGIN_PARENT: result.fixed_message = "the parent call was cancelled"; break;
  default: result.fixed_message = "the call was cancelled"; break;
  }
  finish(call);
}

// Cleanup, then delivery: the promise settles only after cleanup has run.
// The caller has settled the call (its fiber is gone, its result filled in).
void Worker::finish(Call* call) {
  call->phase = Phase::Done;
  if (call->sleep_timer != kNoTimer) m_timers.remove(call->sleep_timer);
  if (call->deadline_timer != kNoTimer) m_timers.remove(call->deadline_timer);
  if (brake_token* t = token_unlink(call)) drop_token_ref(t);
  call->result.id = call->id;
  m_calls--;
  m_finished.push_back(call);
}

void Worker::drop_token_ref(brake_token* t) {
  if (t != m_dropped_token) {
    flush_token_refs();
    m_dropped_token = t;
  }
  m_dropped_refs++;
}

void Worker::flush_token_refs() {
  if (m_dropped_token) token_release(m_dropped_token, m_dropped_refs);
  m_dropped_token = nullptr;
  m_dropped_refs = 0;
}

} // namespace brake::runtime
