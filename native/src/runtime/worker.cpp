#include "runtime/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <new>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "llm/provider.h"
#include "runtime/engine.h"
#include "runtime/llm_run.h"
#include "runtime/token.h"
#include "runtime/value_convert.h"
#include "common/utf8.h"
#include "http/native_transport.h"
#include "http/request.h"

namespace brake::runtime {

using Clock = std::chrono::steady_clock;

namespace {
thread_local bool t_on_worker = false;
// A computing call shares its worker in slices this long when other calls
// are ready to run.
constexpr auto kSlice = std::chrono::milliseconds(2);
// How long an idle worker polls its inbox before blocking.
constexpr auto kSpin = std::chrono::microseconds(50);
// Message and event arrays up to this many bytes are kept for reuse (a
// worker keeps at most three: its inbox, the batch it swapped out, its
// events; larger ones, after a burst, are freed so memory returns to its
// baseline).
constexpr size_t kKeepBytes = 32 * 1024;
// At most this many cancels are finished by the cancelling thread in a
// waiting worker's place; more (a mass cancel) go to the worker, so the
// host thread (often an event loop) is not the one doing the work.
constexpr size_t kMaxCancelsHere = 16;

} // namespace

bool on_worker_thread() { return t_on_worker; }

Worker::Worker(Engine& engine, uint8_t index) : m_engine(engine), m_index(index) {}

Worker::~Worker() {
  stop_shells();
  // Messages posted after the thread finished its last call (a cancel racing
  // the end of a call, a late operation result) only hold references.
  for (Message& m : m_inbox) discard(m);
  for (Operation* op : m_operations)
    if (op) op->release();
  free_graveyard();
  flush_token_refs();
#ifdef BRAKE_HAVE_CURL
  delete m_transport; // every transfer ended with its call
#endif
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

// ---------------------------------------------------------------- the stand-in rule

// Claims the worker if it is blocked waiting: its state is then the
// caller's until release_claim(). Any thread, holding no lock.
bool Worker::claim() {
  std::lock_guard<std::mutex> lock(m_mu);
  if (!m_waiting || m_claimed || m_stopping) return false;
  m_claimed = true;
  return true;
}

void Worker::release_claim() {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    m_claimed = false;
    // The worker woke meanwhile (a message, a timer) and waits for the claim
    // to end. Otherwise it still sleeps in its own wait, which a timer the
    // claimant removed may end early (an empty turn), and no wake-up is due.
    wake = m_claim_waiter;
  }
  if (wake) m_cv.notify_one();
}

// Finishes the cancels of `calls` (already flagged) here, in a waiting
// worker's place, and delivers them. Returns true when every call is now
// finished; false when the worker was not claimable or some call was not
// waiting (queued or ready: only its worker can finish it), and the caller
// must post the cancels instead. The references the caller holds for a
// message stay the caller's. The host's `notify` runs after the claim is
// released, so host code never stalls the worker.
bool Worker::finish_cancels_here(Call* const* calls, size_t n) {
  if (n > kMaxCancelsHere || !m_engine.may_finish_off_worker() || !claim()) return false;
  struct Claim {
    Worker* w;
    void release() {
      if (w) w->release_claim();
      w = nullptr;
    }
    ~Claim() { release(); } // on every path out, an exception too
  } claim{this};
  try {
    reserve_more(m_events, 2 * n); // a host cancel and a completion each: finishing cannot fail
  } catch (const std::bad_alloc&) {
    return false;
  }
  bool all = true;
  for (size_t i = 0; i < n; i++) {
    // A call with tasks is torn down by its worker, not on this thread
    // (which may be the host's event loop): it may have thousands.
    if (TaskLinks* links = calls[i]->links(); links && !links->children.empty()) {
      all = false;
      continue;
    }
    if (!on_cancel(calls[i])) all = false;
  }
  bool notify = false, stranded = false;
  try {
    notify = m_engine.enqueue(m_events);
  } catch (const std::bad_alloc&) {
    stranded = true; // still in m_events: the worker delivers them once woken
  }
  flush_token_refs();
  publish_finished();
  m_timer_count.store(m_timers.size(), std::memory_order_relaxed);
  // Large heaps of the calls finished here are the worker's to free (that
  // can take long: never on the cancelling thread, which may be the host's
  // event loop); it is woken for them.
  bool graves = !m_graveyard.empty() || doomed_transfers() || task_work();
  claim.release();
  if (stranded || graves) wake();
  if (notify) m_engine.notify_host();
  return all;
}

void Worker::cancel_call(Call* call) {
  if (finish_cancels_here(&call, 1)) return;
  post_cancel(call);
}

// ---------------------------------------------------------------- the inbox

// With m_mu held: whether the worker sleeps (and must be woken); it counts
// as awake from now on.
bool Worker::take_sleeper() {
  bool sleeping = m_waiting;
  m_waiting = false;
  return sleeping;
}

// After posting (m_mu released): a running script yields to look at the
// inbox, a sleeping worker wakes.
void Worker::kick(bool sleeping) {
  interrupt();
  if (!sleeping) return;
  m_cv.notify_one();
  // It may sleep in its transport's epoll instead (the eventfd lives as long
  // as the worker, so a post racing the worker's exit writes to it safely).
  int fd = m_wake_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof one);
    (void)ignored;
  }
}

void Worker::post(MessageKind kind, Call* call) {
  bool sleeping;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    m_inbox.push_back(Message{kind, {call}});
    m_mail.store(true, std::memory_order_release);
    if (call) call->retain(); // only once queued: a failed push leaks nothing
    sleeping = take_sleeper();
  }
  kick(sleeping);
}

void Worker::complete_operations(Operation* const* ops, OperationOutcome* outcomes, size_t n, bool* accepted) {
  bool wake = false;
  size_t posted = 0;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    reserve_more(m_inbox, n); // may throw: before anything changed
    for (size_t i = 0; i < n; i++) {
      accepted[i] = ops[i]->try_complete();
      if (!accepted[i]) continue;
      ops[i]->outcome = std::move(outcomes[i]);
      ops[i]->retain();
      Message m{MessageKind::OperationDone, {nullptr}};
      m.op = ops[i];
      m_inbox.push_back(m);
      m_mail.store(true, std::memory_order_release);
      posted++;
    }
    if (posted) wake = take_sleeper();
  }
  if (posted) kick(wake);
}

void Worker::post_part(Operation* op, std::unique_ptr<std::string> part) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    Message m{MessageKind::OperationPart, {nullptr}};
    m.part = part.get();
    m.part_op = op;
    m_inbox.push_back(m); // may throw: nothing changed
    part.release();
    op->retain();
    m_mail.store(true, std::memory_order_release);
    wake = take_sleeper();
  }
  kick(wake);
}

void Worker::post_results(const uint64_t* ids, brake_value* const* values, size_t n) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    reserve_more(m_inbox, n); // may throw: before anything changed
    for (size_t i = 0; i < n; i++) {
      Message m{MessageKind::OperationResult, {nullptr}};
      m.value = values[i];
      m.id = ids[i];
      m_inbox.push_back(m);
    }
    if (n) m_mail.store(true, std::memory_order_release);
    wake = take_sleeper();
  }
  kick(wake);
}

bool Worker::post_cancels_quietly(std::unique_ptr<CallBatch> calls) {
  if (finish_cancels_here(calls->data(), calls->size())) {
    for (Call* c : *calls) c->release();
    return false;
  }
  try {
    std::lock_guard<std::mutex> lock(m_mu);
    Message m{MessageKind::CancelMany, {nullptr}};
    m.calls = calls.get();
    m_inbox.push_back(m);
    m_mail.store(true, std::memory_order_release);
    calls.release(); // now owned by the message
  } catch (const std::bad_alloc&) {
    for (Call* c : *calls) c->release();
  }
  return true;
}

void Worker::wake() {
  bool sleeping;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    sleeping = take_sleeper();
  }
  kick(sleeping);
}

// Blocks until there is something to do; returns false when the worker
// should exit.
bool Worker::wait_for_work(std::vector<Message>& batch) {
  std::unique_lock<std::mutex> lock(m_mu);
  bool spun = false;
  for (;;) {
    if (m_claimed) {
      // A stand-in owns the state (it saw this thread waiting): touch
      // nothing until it is done.
      m_claim_waiter = true;
      m_cv.wait(lock);
      m_claim_waiter = false;
      continue;
    }
    // (A graveyard left by a stand-in is freed here, not on its thread.)
    if (!m_inbox.empty() || !m_fresh.empty() || !m_ready.empty() || !m_graveyard.empty() || m_http_polled ||
        doomed_transfers() || task_work())
      break;
    if (m_stopping && m_calls == 0) return false;
    if (!spun && !http_active()) {
      // Before sleeping, stay awake a little: under a steady stream of calls
      // the next message usually arrives within microseconds, and a futex
      // wake-up per call would cost more than the call itself. Not with
      // transfers in flight: what comes next is mostly their sockets, which
      // the spin does not watch, and epoll_wait is the cheap wait for them.
      spun = true;
      lock.unlock();
      auto until = Clock::now() + kSpin;
      while (!m_dispatch.interrupted() && Clock::now() < until)
        std::this_thread::yield();
      lock.lock();
      continue;
    }
#ifdef BRAKE_HAVE_CURL
    if (http_active()) {
      // Transfers in flight: sleep in epoll over their sockets and the wake
      // eventfd (a stand-in may claim the worker meanwhile, as in m_cv).
      int ms = -1;
      if (!m_timers.empty()) {
        auto left = m_timers.next_when() - Clock::now();
        if (left <= Clock::duration::zero()) break;
        ms = int(std::min<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1, 1 << 30));
      }
      m_waiting = true;
      lock.unlock();
      m_transport->wait(ms);
      lock.lock();
      m_waiting = false;
      m_http_polled = true;
      continue; // a claim first, then what there is to do
    }
#endif
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
  m_mail.store(false, std::memory_order_relaxed);
  m_dispatch.reset();
  return true;
}

void Worker::loop() {
  std::vector<Message> batch;
  while (wait_for_work(batch)) {
    for (const Message& m : batch) handle(m);
    batch.clear();
#ifdef BRAKE_HAVE_CURL
    // A busy worker never sleeps in the transport's wait: its sockets are
    // looked at (without blocking) every turn all the same.
    if (http_active() && !m_http_polled) {
      m_transport->wait(0);
      m_http_polled = true;
    }
    if (m_http_polled) drive_http();
#endif
    fire_timers();
    settle_tasks();
    deliver(); // cancels settle before any script runs
    run_ready();
    purge_dead_tasks();
    deliver();
    bury_transfers(); // after the completions of their calls
    free_graveyard(); // after the completions it belonged to
    flush_token_refs();
    publish_finished();
    // A burst (100k starts) leaves these arrays large: free them, so memory
    // returns to its baseline (the next burst grows them again).
    if (batch.capacity() * sizeof(Message) > kKeepBytes) std::vector<Message>().swap(batch);
    if (m_events.capacity() * sizeof(Event) > kKeepBytes) std::vector<Event>().swap(m_events);
    m_timer_count.store(m_timers.size(), std::memory_order_relaxed);
  }
}

void Worker::deliver() {
  try {
    m_engine.deliver(m_events);
  } catch (const std::bad_alloc&) {
    // Kept in m_events for the next turn (the queue could not grow now).
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
      if (m_events.size() >= kSlice) deliver();
    }
    delete calls;
    return;
  }
  case MessageKind::OperationDone: on_operation_done(m.op); return; // adopts the reference
  case MessageKind::OperationPart: {
    // A part of a streamed body from the host transport (brake_host_part):
    // read if the call still waits on that operation, dropped otherwise.
    // (Its answer, if already given, is a later message: the operation is
    // still in the call's slot.)
    std::unique_ptr<std::string> part(m.part);
    stream_part(m.part_op, *part);
    m.part_op->release();
    return;
  }
  case MessageKind::OperationResult: {
    // A value for operation m.id, not yet checked by its sender (see
    // post_results): it wins the operation here, or is dropped.
    ValuePtr value(m.value);
    Operation* op = m_engine.operations().find(m.id);
    if (!op) return;
    if (op->worker != this || !op->try_complete()) {
      op->release();
      return;
    }
    op->outcome.value = value ? std::move(value) : std::make_unique<brake_value>();
    m_engine.operations().remove(op);
    on_operation_done(op); // adopts the reference find() took
    return;
  }
  case MessageKind::Stop: m_stopping = true; break;
  }
  discard(m);
}

// Drops the references a message holds.
void Worker::discard(const Message& m) {
  switch (m.kind) {
  case MessageKind::CancelMany:
    for (Call* c : *m.calls) c->release();
    delete m.calls;
    break;
  case MessageKind::OperationDone: m.op->release(); break;
  case MessageKind::OperationResult: brake_value_free(m.value); break;
  case MessageKind::OperationPart:
    delete m.part;
    m.part_op->release();
    break;
  default:
    if (m.call) m.call->release();
    break;
  }
}

// ---------------------------------------------------------------- calls

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
  m_fresh.push_back(call);
}

// The call's state already carries the cancel; act on its phase. Returns
// whether the call is finished now (it was waiting, or was finished before).
bool Worker::on_cancel(Call* call) {
  switch (call->phase) {
  case Phase::Sleeping:
  case Phase::Waiting:
  case Phase::Awaiting: finish_cancelled(call, call->cancel_origin()); return true;
  case Phase::Done: return true;
  case Phase::Ready: // finished by run_ready, first thing (finish_cancelled_ready)
    m_cancelled_ready++;
    return false;
  case Phase::Queued: // its Start is still in flight: admit() will see it
    return false;
  }
  return false;
}

void Worker::fire_timers() {
  if (m_timers.empty()) return;
  auto now = Clock::now();
  TimerHeap::Due e;
  while (m_timers.pop_due(now, e)) {
    Call* call = e.call;
    LlmRun* run = e.kind == TimerKind::Sleep && call->phase == Phase::Waiting ? llm_run(call) : nullptr;
    if (e.kind == TimerKind::Sleep && call->phase == Phase::Awaiting) {
      await_timed_out(call); // with_timeout's time
    } else if (run && run->streaming && llm_stream_timer(call, *run)) {
      continue; // a streamed attempt's clock (worker_llm.cpp)
    } else if (e.kind == TimerKind::Sleep && call->phase == Phase::Waiting) {
      http_timed_out(call); // a waiting call's sleep slot holds its request's timeout
    } else if (e.kind == TimerKind::Sleep && llm_run(call)) {
      llm_backoff_done(call, *llm_run(call)); // an LLM call's backoff
    } else if (e.kind == TimerKind::Sleep) {
      call->fiber.resume(vm::Value::null());
      call->phase = Phase::Ready;
      m_fresh.push_back(call);
    } else if (call->request_cancel(BRAKE_ORIGIN_TIMEOUT)) {
      on_cancel(call);
    }
  }
}

// Runs each call that is ready now once: first the fresh ones (new, or
// just woken by a timer or an answer), then those that yielded a time slice
// and wait at the back.
//
// The dispatch table is reset before each call: an interrupt (a post, or
// the end of the previous call's slice) is meant for the call that was
// running, and the next one gets a whole slice. Before each yielded call
// but the round's first, the worker returns to its inbox if something was
// posted meanwhile, so a call started beside computing ones waits about one
// slice however many there are, while yielded calls still make progress
// however busy the inbox is. Fresh calls (usually short) run without that
// look, so a stream of starts keeps its batches.
void Worker::run_ready() {
  if (m_cancelled_ready) finish_cancelled_ready();
  // Counted first: a fresh call that yields joins m_ready, and waits for
  // the next round like the others.
  size_t fresh = m_fresh.size(), yielded = m_ready.size();
  for (; fresh > 0 && !m_fresh.empty(); fresh--) {
    Call* call = m_fresh.front();
    m_fresh.pop_front();
    if (call->phase != Phase::Ready) continue;
    if (m_dispatch.interrupted()) m_dispatch.reset();
    run_call(call);
  }
  for (size_t n = 0; n < yielded && !m_ready.empty(); n++) {
    if (m_dispatch.interrupted()) {
      m_dispatch.reset();
      // A post between the reset and this look interrupts again; one
      // before it is seen here.
      if (has_mail()) {
        m_dispatch.interrupt();
        if (n > 0) break;
      }
    }
    Call* call = m_ready.front();
    m_ready.pop_front();
    if (call->phase != Phase::Ready) continue;
    // A call that used up a slice will likely use up another: what earlier
    // calls finished goes out before it runs.
    if (!m_events.empty()) deliver();
    run_call(call);
  }
}

// Ready calls whose cancel arrived (on_cancel counted them) are finished
// now, wherever they wait in the queues, instead of when their turn comes.
void Worker::finish_cancelled_ready() {
  m_cancelled_ready = 0;
  for (std::deque<Call*>* queue : {&m_fresh, &m_ready}) {
    auto keep = queue->begin();
    for (auto it = queue->begin(); it != queue->end(); ++it) {
      Call* call = *it;
      brake_origin origin = call->phase == Phase::Ready ? call->cancel_origin() : BRAKE_ORIGIN_NONE;
      if (origin == BRAKE_ORIGIN_NONE) {
        *keep++ = call;
        continue;
      }
      finish_cancelled(call, origin); // out of the queue below, before anyone reads it
    }
    queue->erase(keep, queue->end());
  }
}

void Worker::run_call(Call* call) {
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  vm::RunContext ctx;
  ctx.table = m_dispatch.entries();
  // A task's long instructions look at its call's state: a cancel of the
  // call is seen inside them (a task cancelled on its own is stopped by
  // the worker, which runs no script meanwhile).
  ctx.cancel_state = call->is_task() ? &call->links()->root->state : &call->state;
  ctx.env = &m_engine.env();
  // A streamed call's `watch let` changes become WATCH events.
  WatchTarget target{this, call};
  vm::WatchSink sink{&Worker::watch_notify, &target};
  if (call->stream) ctx.watch = &sink;
  ctx.tasks = this;
  m_spawner = call;
  // Others waiting on this worker: give the script a time slice, enforced
  // by the engine's ticker. Events not yet delivered (what earlier calls
  // finished or asked the host for) count as others: they go out when this
  // slice ends; so does mail already posted (its post's interrupt may have
  // been reset for this call in run_ready). A call running alone has no
  // slice, and runs until something is posted.
  // Transfers in flight count too: their sockets are looked at between
  // calls, so a computing call must come round.
  bool others = !m_fresh.empty() || !m_ready.empty() || !m_events.empty() || has_mail() || http_active();
  if (others || !m_timers.empty()) {
    auto end = Clock::time_point::max();
    if (others) end = Clock::now() + kSlice;
    if (!m_timers.empty()) end = std::min(end, m_timers.next_when());
    m_slice_deadline.store(std::max<int64_t>(1, end.time_since_epoch().count()), std::memory_order_seq_cst);
    m_engine.ticker_wanted();
  }
  // Whatever way the run ends, the cancels it asked for and the tasks to
  // look at again are seen to before the worker moves on.
  struct SettleTasks {
    Worker* w;
    ~SettleTasks() {
      try {
        w->settle_tasks();
      } catch (const std::bad_alloc&) {
        // (what is left stays queued for the loop's own settle_tasks)
      }
    }
  } settle{this};
  vm::RunStatus status;
  try {
    status = call->fiber.run(ctx);
  } catch (const vm::Interrupted&) {
    // Long work inside an instruction saw the cancel: the fiber, stopped
    // mid-instruction, goes with the call.
    m_slice_deadline.store(0, std::memory_order_relaxed);
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    // The allocation that would have passed a limit was not made.
    m_slice_deadline.store(0, std::memory_order_relaxed);
    fail_call(call, "out_of_memory", e.what());
    return;
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
  case vm::RunStatus::Finished:
    if (!finish_task_run(call)) finish_value(call);
    break;
  case vm::RunStatus::Failed: finish_error(call); break;
  case vm::RunStatus::Yielded: m_ready.push_back(call); break;
  case vm::RunStatus::Suspended: suspend(call); break;
  case vm::RunStatus::Caught: fail_call(call, "internal", "a caught error left the interpreter"); break; // (never returned by run())
  }
}

// What the engine reads to place new calls (Engine::pick_worker): how many
// calls this worker finished. Stored once per turn, and only when it
// changed, so a stream of short calls does not make the line every start
// reads bounce between threads on every call.
void Worker::publish_finished() {
  if (m_finished_total != m_finished.load(std::memory_order_relaxed))
    m_finished.store(m_finished_total, std::memory_order_relaxed);
}

// Starts what a suspended call asked for.
void Worker::suspend(Call* call) {
  // Checkpoint before starting an operation.
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  vm::Request r = call->fiber.request();
  switch (r.kind) {
  case vm::Request::Kind::Sleep:
    try {
      m_timers.add(Clock::now() + clamp_wait(uint64_t(r.sleep_ms)), call, TimerKind::Sleep);
    } catch (const std::bad_alloc&) {
      fail_call(call, "out_of_memory", "out of memory starting the sleep");
      return;
    }
    call->phase = Phase::Sleeping;
    return;
  case vm::Request::Kind::HostCall: start_host_call(call, r); return;
  case vm::Request::Kind::Http: start_http(call, r); return;
  case vm::Request::Kind::Llm: start_llm(call, r); return;
  case vm::Request::Kind::Shell: start_shell(call, r); return;
  case vm::Request::Kind::Await: start_await(call, r); return;
  case vm::Request::Kind::GroupAdmit:
    try {
      vm::TaskGroupObj* g = call->fiber.request_args()[0].as_group();
      call->fiber.set_group_ticket(g->popped + g->waiters.size()); // (its place, for leave_group_queue)
      g->waiters.push_back(call);
      if (g->running < g->limit) group_has_room(g, call->is_task() ? call->links()->root : call); // (room, behind spawners not let in yet)
    } catch (const std::bad_alloc&) {
      fail_call(call, "out_of_memory", "out of memory waiting for room in a task group");
      return;
    }
    call->retain();
    call->phase = Phase::Awaiting;
    return;
  case vm::Request::Kind::None: break;
  }
  fail_call(call, "internal", "the call suspended without a request");
}

// A new operation of `call` on this worker, holding a reference to the
// call; null, with the call failed (out of memory while `doing`), when
// memory ran out.
template <typename Op> Op* Worker::new_operation(Call* call, const std::string& doing) {
  auto* op = new (std::nothrow) Op(m_engine.next_operation_id(m_index));
  if (!op) {
    fail_call(call, "out_of_memory", "out of memory " + doing);
    return nullptr;
  }
  call->retain();
  op->call = call;
  op->worker = this;
  return op;
}
template ShellOperation* Worker::new_operation<ShellOperation>(Call* call, const std::string& doing);

// Hands a host-function call to the host: its arguments become host
// values (charged to the call), the operation gets an id and a slot, and a
// HostCall event goes out with the call's other events.
void Worker::start_host_call(Call* call, const vm::Request& r) {
  const vm::CompiledProgram& program = m_engine.program();
  const vm::HostFunctionInfo& fn = program.host_functions[r.host_function];
  auto* op = new_operation<HostOperation>(call, "calling host function '" + fn.name + "'");
  if (!op) return;
  op->function = r.host_function;
  op->function_name = &fn.name;
  op->call_id = call->id;
  op->call_user_data = call->user_data;
  const vm::Value* args = call->fiber.request_args();
  size_t used_before = call->fiber.heap().used();
  try {
    for (size_t i = 0; i < r.argc; i++) {
      ValuePtr v = from_vm(program, args[i], call->fiber.heap(), &call->state);
      if (!v) {
        op->release();
        fail_call(call, "value_too_deep", "argument " + std::to_string(i + 1) + " of host function '" + fn.name +
                                              "' is nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
        return;
      }
      op->args.push_back(std::move(v));
    }
    op->charged = call->fiber.heap().used() - used_before;
  } catch (const vm::Interrupted&) {
    op->release();
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    op->release();
    fail_call(call, "out_of_memory", "calling host function '" + fn.name + "': " + e.what());
    return;
  } catch (const std::bad_alloc&) {
    op->release();
    fail_call(call, "out_of_memory", "out of memory calling host function '" + fn.name + "'");
    return;
  }
  hand_to_host(call, op, "calling host function '" + fn.name + "'");
}

// The common end of a host call and an HTTP request by the host transport:
// `op` (our reference, arguments filled in and charged) gets a slot and
// goes out with the call's other events, and the call waits. False (the
// call failed, `op` released) when memory ran out.
bool Worker::hand_to_host(Call* call, HostOperation* op, const std::string& what) {
  try {
    // Everything that can fail, before the operation becomes visible.
    reserve_more(m_events, 1);
    call->operation = add_operation(op); // adopts our reference
  } catch (const std::bad_alloc&) {
    if (call->has_fiber && op->charged) call->fiber.heap().uncharge(op->charged);
    op->release();
    fail_call(call, "out_of_memory", "out of memory " + what);
    return false;
  }
  try {
    m_engine.operations().insert(op);
  } catch (const std::bad_alloc&) {
    drop_operation(call, false);
    fail_call(call, "out_of_memory", "out of memory " + what);
    return false;
  }
  call->phase = Phase::Waiting;
  op->retain();
  m_events.push_back(Event::host(Event::Kind::HostCall, op)); // reserved above
  return true;
}

namespace {
const std::string kFetchName = "baml.http.fetch";
// A body built from a value (sent as JSON) is at most this long.
constexpr size_t kMaxJsonBody = size_t(64) << 20;

ValuePtr host_string(std::string text) {
  auto v = std::make_unique<brake_value>(BRAKE_KIND_STRING);
  v->text = std::move(text);
  return v;
}
// What a request's own data costs the call while it is in flight (its
// copies as the transport's), beyond a transport's fixed overhead.
size_t request_bytes(const http::Request& req) {
  size_t bytes = req.url.size() + req.body.size();
  for (const auto& [name, value] : req.headers) bytes += name.size() + value.size() + 64;
  return bytes;
}
ValuePtr host_int(int64_t i) {
  auto v = std::make_unique<brake_value>(BRAKE_KIND_INT);
  v->i = i;
  return v;
}
} // namespace

// A script's baml.http.fetch: its arguments are checked (a typed script
// error for a bad URL or option, or a host outside the network policy,
// before anything is connected or looked up) and the request goes to the
// transport. The engine keeps the request's timeout itself (a timer in the
// waiting call's sleep slot): when it passes, the script gets a response
// with status_code 0 and the transport's operation is cancelled.
void Worker::start_http(Call* call, const vm::Request& r) {
  const vm::CompiledProgram& program = m_engine.program();
  const HttpConfig& cfg = m_engine.http();
  http::Request req;
  std::string message;
  try {
    if (!http::read_fetch_args(call->fiber.request_args(), r.argc, program, kMaxJsonBody, &call->state, req, message)) {
      fail_call(call, "invalid_argument", "baml.http.fetch: " + message);
      return;
    }
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory reading baml.http.fetch's arguments");
    return;
  }
  uint64_t timeout = req.timeout_ms ? req.timeout_ms : cfg.timeout_ms;
  Clock::time_point deadline = timeout ? Clock::now() + clamp_wait(timeout) : Clock::time_point::max();
  send_http(call, req, timeout, deadline, cfg.max_redirects);
}

// Sends `req` (a script's request, or the next hop of its redirects): the
// network policy first, then the transport. `timeout` is the request's
// whole timeout (for its message), `deadline` when the whole chain must be
// done.
void Worker::send_http(Call* call, http::Request& req, uint64_t timeout, Clock::time_point deadline,
                       uint32_t redirects_left) {
  const vm::CompiledProgram& program = m_engine.program();
  const HttpConfig& cfg = m_engine.http();
  if (!cfg.policy.allows(req.parsed)) {
    std::string where = req.parsed.host.find(':') != std::string::npos ? "[" + req.parsed.host + "]" : req.parsed.host;
    fail_http(call, "network_policy",
              "baml.http.fetch: " + where + ":" + std::to_string(req.parsed.port) + " is not among the engine's allowed hosts",
              req.url);
    return;
  }
  std::unique_ptr<HttpChain> chain;
  try {
    if (redirects_left) chain.reset(new HttpChain{req, deadline, redirects_left});
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory starting an HTTP request");
    return;
  }
  if (!cfg.transport.call) {
#ifdef BRAKE_HAVE_CURL
    start_native_http(call, req, timeout, deadline, std::move(chain));
#else
    fail_http(call, "http_unavailable",
              "baml.http.fetch: this engine has no HTTP transport (brake was built without libcurl, and the host gave none)",
              req.url);
#endif
    return;
  }
  auto* op = new_operation<HostOperation>(call, "starting an HTTP request");
  if (!op) return;
  op->function = uint32_t(program.host_functions.size());
  op->function_name = &kFetchName;
  op->call_id = call->id;
  op->call_user_data = call->user_data;
  try {
    size_t bytes = request_bytes(req) + 256;
    auto headers = std::make_unique<brake_value>(BRAKE_KIND_MAP);
    for (auto& [name, value] : req.headers) {
      headers->keys.push_back(std::move(name));
      headers->items.push_back(host_string(std::move(value)));
    }
    call->fiber.heap().charge(bytes);
    op->charged = bytes;
    op->args.push_back(host_string(std::move(req.url)));
    op->args.push_back(host_string(std::move(req.method)));
    op->args.push_back(std::move(headers));
    op->args.push_back(req.has_body ? host_string(std::move(req.body)) : std::make_unique<brake_value>(BRAKE_KIND_NULL));
    // What is left of the chain's time (at least 1 ms: a hop whose time has
    // run out times out at once; the engine's timer ends it either way).
    uint64_t left = 0;
    if (deadline != Clock::time_point::max()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      left = ms < 1 ? 1 : uint64_t(ms);
    }
    op->args.push_back(host_int(int64_t(std::min<uint64_t>(left, INT64_MAX))));
    op->args.push_back(host_int(int64_t(std::min<uint64_t>(cfg.max_response_bytes, INT64_MAX))));
    auto stream = std::make_unique<brake_value>(BRAKE_KIND_BOOL); // brake_host_part wanted
    LlmRun* run = llm_run(call);
    stream->b = run && run->streaming;
    op->args.push_back(std::move(stream));
    op->http_timeout_ms = timeout;
    op->chain = std::move(chain);
    if (deadline != Clock::time_point::max()) m_timers.add(deadline, call, TimerKind::Sleep);
  } catch (const vm::MemoryLimitExceeded& e) {
    if (op->charged) call->fiber.heap().uncharge(op->charged);
    op->release();
    fail_call(call, "out_of_memory", std::string("baml.http.fetch: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    if (op->charged) call->fiber.heap().uncharge(op->charged);
    op->release();
    fail_call(call, "out_of_memory", "out of memory starting an HTTP request");
    return;
  }
  hand_to_host(call, op, "starting an HTTP request");
}

// Whether cancelled calls left transfers to remove (see NativeTransport::doom).
bool Worker::doomed_transfers() const {
#ifdef BRAKE_HAVE_CURL
  return m_transport && m_transport->has_doomed();
#else
  return false;
#endif
}

// Removes the transfers of calls cancelled this turn: their sockets close now.
void Worker::bury_transfers() {
#ifdef BRAKE_HAVE_CURL
  if (m_transport && m_transport->has_doomed()) m_transfers.fetch_sub(m_transport->bury(), std::memory_order_relaxed);
#endif
}

#ifdef BRAKE_HAVE_CURL
// The native transport: the request becomes a transfer of this worker's
// transport (its own HTTP/1.1 client's or libcurl's). Its operation is the
// call's like any other (a cancel ends it through drop_operation, which
// dooms the transfer: the worker removes it and closes its connection right
// after delivering the call's completion); it finishes in drive_http, on
// this thread. The transport gets no total timeout of its own: the
// engine's timer ends it.
void Worker::start_native_http(Call* call, http::Request& req, uint64_t timeout, Clock::time_point deadline,
                               std::unique_ptr<HttpChain> chain) {
  const HttpConfig& cfg = m_engine.http();
  if (!m_transport) {
    try {
      m_transport = new http::NativeTransport(&m_sockets);
    } catch (const std::exception& e) {
      fail_http(call, "http_unavailable", std::string("baml.http.fetch: ") + e.what(), req.url);
      return;
    }
    m_wake_fd.store(m_transport->wake_fd(), std::memory_order_release);
  }
  auto* op = new_operation<NativeHttpOperation>(call, "starting an HTTP request");
  if (!op) return;
  op->http_timeout_ms = timeout;
  op->chain = std::move(chain);
  // A transfer that could not start is answered as a failed request, after
  // the try below (whatever the answer leads to is not this start's to undo).
  bool not_started = false;
  std::string url, error;
  try {
    size_t bytes = request_bytes(req) + 1024; // and the transfer's own state
    call->fiber.heap().charge(bytes);
    op->charged = bytes;
    op->url = req.url;
    http::TransferOptions options;
    options.max_response_bytes = cfg.max_response_bytes;
    options.connect_timeout_ms = req.connect_timeout_ms ? req.connect_timeout_ms : cfg.connect_timeout_ms;
    options.ca_pem = &cfg.ca_pem;
    options.libcurl_only = cfg.libcurl_only;
    LlmRun* run = llm_run(call);
    options.stream_body = run && run->streaming;
    op->transfer = m_transport->start(req, options, op, error);
    if (!op->transfer) {
      call->fiber.heap().uncharge(op->charged);
      url = std::move(op->url);
      op->release();
      not_started = true;
    } else {
      m_transfers.fetch_add(1, std::memory_order_relaxed);
      call->operation = add_operation(op); // adopts our reference
      if (deadline != Clock::time_point::max()) m_timers.add(deadline, call, TimerKind::Sleep);
    }
  } catch (const vm::MemoryLimitExceeded& e) {
    undo_native_start(call, op);
    fail_call(call, "out_of_memory", std::string("baml.http.fetch: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    undo_native_start(call, op);
    fail_call(call, "out_of_memory", "out of memory starting an HTTP request");
    return;
  }
  if (not_started) {
    http::Answer failed;
    failed.failed = true;
    failed.error = std::move(error);
    resume_http(call, url, failed);
    return;
  }
  call->phase = Phase::Waiting;
}

// Memory ran out while a native request was being started: whatever of it
// exists goes (its slot and timer with drop_operation once it has a slot).
void Worker::undo_native_start(Call* call, NativeHttpOperation* op) {
  if (call->operation != kNoOperation) {
    drop_operation(call, true);
    return;
  }
  if (op->transfer) m_transport->doom(op->transfer); // bury_transfers() stops it and counts it out
  if (op->charged) call->fiber.heap().uncharge(op->charged);
  op->release();
}

// Lets the transport act on what its wait saw; a finished transfer resumes
// its call (unless the call stopped waiting, which removed the transfer).
void Worker::drive_http() {
  m_http_polled = false;
  if (!m_transport) return;
  m_transport->drive([this](void* owner, http::Answer& r) {
    auto* op = static_cast<NativeHttpOperation*>(owner);
    if (r.more) { // a part of a streamed LLM reply (only those stream)
      stream_part(op, r.body);
      return;
    }
    op->transfer = nullptr; // the driver let go of it
    m_transfers.fetch_sub(1, std::memory_order_relaxed);
    Call* call = op->call;
    if (!op->try_complete() || call->phase != Phase::Waiting || m_operations[call->operation] != op) return;
    std::string url = op->url;
    std::unique_ptr<HttpChain> chain = std::move(op->chain);
    uint64_t timeout = op->http_timeout_ms;
    drop_operation(call, false); // releases op
    if (brake_origin o = call->cancel_origin()) {
      finish_cancelled(call, o);
      return;
    }
    if (follow_redirect(call, chain, timeout, r)) return;
    resume_http(call, url, r);
  });
}
#endif

// The request's timeout passed before its answer: the transport's operation
// is cancelled (origin timeout) and the script goes on with status_code 0.
void Worker::http_timed_out(Call* call) {
  Operation* any = m_operations[call->operation];
  std::string url = any->native_http ? static_cast<NativeHttpOperation*>(any)->url
                                     : static_cast<HostOperation*>(any)->args[0]->text;
  uint64_t ms = any->http_timeout_ms;
  drop_operation(call, true, BRAKE_ORIGIN_TIMEOUT);
  http::Answer timed_out;
  timed_out.failed = true;
  timed_out.error = "timed out after " + std::to_string(ms) + " ms";
  resume_http(call, url, timed_out);
}

namespace {
brake_value* field(brake_value& v, const char* name, brake_kind kind) {
  for (size_t i = 0; i < v.keys.size(); i++)
    if (v.keys[i] == name) return v.items[i] && v.items[i]->kind == kind ? v.items[i].get() : nullptr;
  return nullptr;
}

// The host transport's answer, checked into the Answer both transports
// give: a MAP {status: int, url: string, headers: map of strings, body:
// string}, or its failure. Anything else is a failed request saying why.
http::Answer read_host_answer(OperationOutcome& outcome, uint64_t max_response_bytes) {
  http::Answer a;
  a.failed = true;
  if (outcome.failed) {
    a.error = outcome.error_message.empty() ? "the request failed" : std::move(outcome.error_message);
    return a;
  }
  brake_value *status = nullptr, *url = nullptr, *headers = nullptr, *body = nullptr;
  if (!outcome.value || outcome.value->kind != BRAKE_KIND_MAP || !(status = field(*outcome.value, "status", BRAKE_KIND_INT)) ||
      !(url = field(*outcome.value, "url", BRAKE_KIND_STRING)) ||
      !(headers = field(*outcome.value, "headers", BRAKE_KIND_MAP)) ||
      !(body = field(*outcome.value, "body", BRAKE_KIND_STRING))) {
    a.error = "the HTTP transport answered with something other than {status: int, url: string, headers: map, body: string}";
    return a;
  }
  if (status->i < 100 || status->i > 999) {
    a.error = "the HTTP transport answered with status " + std::to_string(status->i);
    return a;
  }
  // The transport enforces the limit on the bytes it receives; decoding may
  // then triple them (U+FFFD for each byte that is not UTF-8). A transport
  // that ignored it is stopped here.
  if (max_response_bytes && body->text.size() / 3 > max_response_bytes) {
    a.error = http::too_large_message(max_response_bytes);
    return a;
  }
  for (size_t i = 0; i < headers->keys.size(); i++) {
    if (!headers->items[i] || headers->items[i]->kind != BRAKE_KIND_STRING) {
      a.error = "the HTTP transport answered with a header that is not a string";
      a.headers.clear();
      return a;
    }
    a.headers.emplace_back(http::ascii_lower(headers->keys[i]), std::move(headers->items[i]->text));
  }
  a.failed = false;
  a.status = long(status->i);
  a.url = url->text;
  a.body = std::move(body->text);
  return a;
}
} // namespace

// A 3xx answer with a Location, when the engine follows redirects and the
// chain has hops left: the next hop is sent instead of answering the script
// (checked against the network policy like the first; a method other than
// GET/HEAD becomes GET without a body on 301/302/303; credentials are not
// sent to another origin). Returns whether it took the call over.
bool Worker::follow_redirect(Call* call, std::unique_ptr<HttpChain>& chain, uint64_t timeout, const http::Answer& answer) {
  if (!chain || chain->redirects_left == 0 || answer.failed) return false;
  long code = answer.status;
  if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) return false;
  const std::string* location = nullptr;
  for (const auto& [name, value] : answer.headers)
    if (name == "location") location = &value;
  if (!location) return false;
  http::Request& req = chain->request;
  std::string next, why;
  if (!http::resolve_redirect(answer.url.empty() ? req.url : answer.url, *location, next, why))
    return false; // not somewhere this engine goes: the 3xx is the answer
  http::Url parsed;
  if (!http::parse_url(next, parsed, why)) return false;
  bool same_origin = parsed.https == req.parsed.https && parsed.host == req.parsed.host && parsed.port == req.parsed.port;
  auto drop_header = [&](const char* lower_name) {
    auto& h = req.headers;
    h.erase(std::remove_if(h.begin(), h.end(), [&](const auto& kv) { return http::ascii_lower(kv.first) == lower_name; }),
            h.end());
  };
  if (code == 303 || ((code == 301 || code == 302) && req.method != "GET" && req.method != "HEAD")) {
    req.method = code == 303 && req.method == "HEAD" ? "HEAD" : "GET";
    req.has_body = false;
    req.body.clear();
    drop_header("content-type");
    drop_header("content-length");
  }
  if (!same_origin) {
    drop_header("authorization");
    drop_header("cookie");
    drop_header("proxy-authorization");
  }
  req.url = std::move(next);
  req.parsed = std::move(parsed);
  http::Request hop = std::move(req);
  send_http(call, hop, timeout, chain->deadline, chain->redirects_left - 1);
  return true;
}

// The call goes on with a baml.http.Response made from the transport's
// answer (or its failure: status_code 0, `error` set).
void Worker::resume_http(Call* call, const std::string& request_url, const http::Answer& answer) {
  if (LlmRun* run = llm_run(call)) { // an LLM call's attempt
    llm_answered(call, *run, answer);
    return;
  }
  const vm::CompiledProgram& program = m_engine.program();
  resume_with(call, "the response of baml.http.fetch", [&] {
    vm::Heap& heap = call->fiber.heap();
    vm::InstanceObj* r = heap.new_instance(program.response_class, vm::kResponseFieldCount);
    vm::Value response = vm::Value::object(vm::Tag::Instance, r);
    // No collection runs until the script does: the parts need no rooting.
    r->fields[vm::kResponseStatus] = vm::Value::integer(answer.failed ? 0 : answer.status);
    r->fields[vm::kResponseUrl] = heap.string_value(!answer.failed && !answer.url.empty() ? answer.url : request_url);
    vm::MapObj* h = heap.new_map(answer.failed ? 0 : answer.headers.size());
    r->fields[vm::kResponseHeaders] = vm::Value::object(vm::Tag::Map, h);
    if (!answer.failed)
      for (const auto& [name, value] : answer.headers) heap.map_set(h, name, heap.string_value(value));
    r->fields[vm::kResponseError] = answer.failed ? heap.string_value(answer.error) : vm::Value::null();
    // The native transport's body is the bytes received (a host's strings
    // are UTF-8 already: brake_value_string checks them).
    std::string_view body = answer.failed ? std::string_view() : std::string_view(answer.body);
    std::string valid;
    if (!is_valid_utf8(body)) {
      append_lossy_utf8(valid, body);
      body = valid;
    }
    r->fields[vm::kResponseBody] = heap.string_value(body);
    return response;
  });
}

// Adds a stream event of the call (Call::stream); true when it queued the
// stream's delivery (nothing of it was pending). Throws std::bad_alloc.
bool Worker::stream_event(Call* call, brake_stream_event&& ev) {
  reserve_more(m_events, 1);
  if (!call->stream->push(std::move(ev))) return false;
  m_events.push_back(Event::stream_of(call->stream));
  return true;
}

// A watched variable of a streamed call changed (vm::WatchSink): a WATCH
// event with its value. The conversion is charged to the call while it is
// made (a value too large for the call's limit fails it), then given back:
// the event lives in the stream's queue, which coalesces (CallStream).
void Worker::watch_notify(void* user, const vm::FunctionInfo& fn, const vm::StringObj& name, vm::Value value,
                          vm::Heap& heap) {
  auto* t = static_cast<WatchTarget*>(user);
  brake_stream_event ev;
  ev.kind = BRAKE_STREAM_WATCH;
  ev.function = &fn.name;
  ev.text = name.text;
  size_t before = heap.used();
  ev.value = from_vm(t->worker->m_engine.program(), value, heap, &t->call->state);
  ev.bytes = heap.used() - before;
  heap.uncharge(ev.bytes);
  Worker& w = *t->worker;
  if (!w.stream_event(t->call, std::move(ev))) return;
  // A first undelivered event: it goes out when the call's slice ends, which
  // must be soon (a call running alone has no slice, and one waiting for a
  // timer has it at the timer).
  int64_t soon = (Clock::now() + kSlice).time_since_epoch().count();
  int64_t now_due = w.m_slice_deadline.load(std::memory_order_relaxed);
  if (now_due == 0 || now_due > soon) {
    w.m_slice_deadline.store(soon, std::memory_order_seq_cst);
    w.m_engine.ticker_wanted();
  }
}

uint32_t Worker::add_operation(Operation* op) {
  if (m_free_operations.empty()) {
    reserve_more(m_operations, 1);
    m_free_operations.reserve(m_operations.capacity()); // so freeing a slot never allocates
    m_operations.push_back(nullptr);
    m_free_operations.push_back(uint32_t(m_operations.size() - 1));
  }
  uint32_t slot = m_free_operations.back();
  m_free_operations.pop_back();
  m_operations[slot] = op;
  return slot;
}

// Frees the call's operation slot. With `cancel`, the call stopped waiting
// (cancelled, timed out, closed): if the operation was still pending it is
// cancelled, and the host hears of it (a HostCancel event, after the
// HostCall it already has or is about to have).
void Worker::drop_operation(Call* call, bool cancel, brake_origin origin) {
  // An HTTP request's timeout (in the waiting call's sleep slot) goes with it.
  if (call->sleep_timer != kNoTimer) m_timers.remove(call->sleep_timer);
  uint32_t slot = call->operation;
  Operation* op = m_operations[slot];
  m_operations[slot] = nullptr;
  m_free_operations.push_back(slot); // capacity reserved in add_operation
  call->operation = kNoOperation;
  // Its arguments are no longer the call's (after settle() the heap, and so
  // everything it was charged, is gone already).
  if (call->has_fiber && op->charged) call->fiber.heap().uncharge(op->charged);
#ifdef BRAKE_HAVE_CURL
  if (op->native_http) {
    // The transfer is doomed: its call settles first, and the worker removes
    // it and closes its socket right after delivering (bury_transfers), not
    // the thread settling it.
    auto* native = static_cast<NativeHttpOperation*>(op);
    if (native->transfer) {
      native->try_cancel();
      m_transport->doom(native->transfer);
      native->transfer = nullptr;
    }
    op->release();
    return;
  }
#endif
  if (op->shell) {
    if (cancel && op->try_cancel()) static_cast<ShellOperation*>(op)->stop();
    op->release();
    return;
  }
  if (!cancel || !op->try_cancel()) {
    op->release();
    return;
  }
  op->cancel_origin = origin != BRAKE_ORIGIN_NONE ? origin : call->cancel_origin();
  m_engine.operations().remove(op);
  try {
    m_events.push_back(Event::host(Event::Kind::HostCancel, static_cast<HostOperation*>(op)));
  } catch (const std::bad_alloc&) {
    op->release(); // the host is not told; its late answer finds nothing
  }
}

// An operation's outcome arrived (the completer won its state). If the call
// still waits for it, the script goes on with the value, or fails where it
// waited.
void Worker::on_operation_done(Operation* op) {
  struct Ref {
    Operation* op;
    ~Ref() { op->release(); }
  } ref{op};
  Call* call = op->call;
  if (call->phase != Phase::Waiting || m_operations[call->operation] != op) return; // it stopped waiting
  drop_operation(call, false);
  // Checkpoint: a cancel requested before the result is committed wins.
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  if (op->shell) {
    resume_shell(call, op);
    return;
  }
  auto* host = static_cast<HostOperation*>(op);
  const vm::CompiledProgram& program = m_engine.program();
  if (host->function == program.host_functions.size()) {
    std::unique_ptr<HttpChain> chain = std::move(op->chain);
    http::Answer answer = read_host_answer(op->outcome, m_engine.http().max_response_bytes);
    if (follow_redirect(call, chain, op->http_timeout_ms, answer)) return;
    resume_http(call, host->args[0]->text, answer);
    return;
  }
  const vm::HostFunctionInfo& fn = program.host_functions[host->function];
  OperationOutcome& outcome = op->outcome;
  // A failure is raised where the script waited (a catch there may take it).
  if (outcome.failed) {
    raise_where_waiting(call, vm::ScriptError{"host_error", std::move(outcome.error_message), {}, std::move(outcome.error_code)});
    return;
  }
  std::string why;
  if (!outcome.value || !host_value_fits(program, *outcome.value, fn.return_type, why)) {
    raise_where_waiting(call, vm::ScriptError{"type_error", "host function '" + fn.name + "' returned a value that is not " +
                                                                program.type_name(fn.return_type) + ": " + why, {}, ""});
    return;
  }
  resume_with(call, "the result of host function '" + fn.name + "'",
              [&] { return to_vm(program, *outcome.value, fn.return_type, call->fiber.heap(), &call->state); });
}

// The result is converted for the host before the outcome is committed, so
// a cancel that arrives while a large value is being converted still wins
// (the conversion checks the call's state as it goes).
void Worker::finish_value(Call* call) {
  if (call->is_task()) {
    bool cancelled = call->cancel_origin() != BRAKE_ORIGIN_NONE;
    settle_task(call, cancelled ? vm::FutureObj::State::Cancelled : vm::FutureObj::State::Ready, nullptr,
                cancelled ? vm::Value::null() : call->fiber.result());
    return;
  }
  ValuePtr value;
  try {
    value = from_vm(m_engine.program(), call->fiber.result(), call->fiber.heap(), &call->state);
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", std::string("returning the value: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory returning the value");
    return;
  }
  if (!value) {
    fail_call(call, "value_too_deep",
              "the returned value is nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
    return;
  }
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  retire_heap(call);
  brake_result& result = call->settle();
  result.value = std::move(value);
  result.status = BRAKE_OK;
  finish(call);
}

void Worker::finish_error(Call* call) {
  if (call->is_task()) {
    const vm::ScriptError& error = call->fiber.error();
    bool cancelled = call->cancel_origin() != BRAKE_ORIGIN_NONE;
    settle_task(call, cancelled ? vm::FutureObj::State::Cancelled : vm::FutureObj::State::Failed, &error,
                error.kind == "unhandled_throw" ? call->fiber.thrown() : vm::Value::null());
    return;
  }
  // An unhandled throw's value goes to the host like a result: converted
  // before the outcome is committed, so a cancel still wins meanwhile.
  ValuePtr thrown;
  if (call->fiber.error().kind == "unhandled_throw") {
    try {
      thrown = from_vm(m_engine.program(), call->fiber.thrown(), call->fiber.heap(), &call->state);
    } catch (const vm::Interrupted&) {
      finish_cancelled(call, call->cancel_origin());
      return;
    } catch (const vm::MemoryLimitExceeded&) {
      thrown.reset(); // (the message still shows it)
    } catch (const std::bad_alloc&) {
      thrown.reset();
    }
  }
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  finish_failed(call, call->fiber.error(), std::move(thrown)); // copied before settle() ends the fiber
}

void Worker::fail_call(Call* call, const char* kind, std::string message) {
  fail_call(call, vm::ScriptError{kind, std::move(message), {}, ""});
}

// A failure the script may catch (an LLM call whose attempts all failed, an
// HTTP request refused): raised where the call waits when a catch is open
// there (the script goes on from it), else the call fails with it as before.
void Worker::fail_catchable(Call* call, vm::ScriptError error) {
  if (!call->fiber.catching()) {
    fail_call(call, std::move(error));
    return;
  }
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  if (call->operation != kNoOperation) drop_operation(call, true);
  if (!m_llm_runs.empty()) forget_llm_run(call);
  if (call->sleep_timer != kNoTimer) {
    m_timers.remove(call->sleep_timer);
    call->sleep_timer = kNoTimer;
  }
  raise_where_waiting(call, std::move(error));
}

// Raises `error` where the call waits: a catch open there takes it (the
// script goes on from it: the caught string is allocated on the call's
// heap), else the call fails with it and the script stack there.
void Worker::raise_where_waiting(Call* call, vm::ScriptError error) {
  vm::RunStatus status;
  try {
    status = call->fiber.raise(std::move(error));
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", std::string("catching an error: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory catching an error");
    return;
  }
  if (status == vm::RunStatus::Failed) {
    finish_error(call);
    return;
  }
  call->phase = Phase::Ready;
  m_fresh.push_back(call);
}

void Worker::fail_call(Call* call, vm::ScriptError error) {
  if (call->is_task()) {
    bool cancelled = call->cancel_origin() != BRAKE_ORIGIN_NONE;
    settle_task(call, cancelled ? vm::FutureObj::State::Cancelled : vm::FutureObj::State::Failed, &error, vm::Value::null());
    return;
  }
  if (brake_origin o = call->commit()) {
    finish_cancelled(call, o);
    return;
  }
  finish_failed(call, std::move(error));
}

// fail_call for a request that was refused before it was sent: the failure
// names its URL (BRAKE_HTTP_ERROR; no response, so status 0 and no body).
void Worker::fail_http(Call* call, const char* kind, std::string message, const std::string& url) {
  vm::ScriptError error{kind, std::move(message), {}, ""};
  try {
    auto http = std::make_shared<vm::HttpFailure>();
    http->url = url;
    error.http = std::move(http);
  } catch (const std::bad_alloc&) {
    error.http.reset(); // a plain script error then
  }
  fail_catchable(call, std::move(error));
}

// Settles a call whose own outcome (already committed) is a script error
// (an HTTP error when an HTTP exchange caused it).
void Worker::finish_failed(Call* call, vm::ScriptError error, ValuePtr value) {
  retire_heap(call);
  brake_result& result = call->settle();
  result.value = std::move(value);
  result.status = error.llm ? BRAKE_LLM_ERROR : error.http ? BRAKE_HTTP_ERROR : BRAKE_SCRIPT_ERROR;
  result.error = std::make_unique<vm::ScriptError>(std::move(error));
  finish(call);
}

void Worker::finish_cancelled(Call* call, brake_origin origin) {
  if (call->is_task()) {
    settle_task(call, vm::FutureObj::State::Cancelled, nullptr, vm::Value::null());
    return;
  }
  // The operation goes first: its cancel reaches the host before the call's
  // completion, and while the fiber still exists.
  if (call->operation != kNoOperation) drop_operation(call, true);
  retire_heap(call);
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

// A finished call's heap, when large, is freed after its completion has
// been delivered (freeing millions of objects can take longer than the
// cancel that ended the call): its memory returns, and memory_in_use
// drops, a moment after the call settles. Small heaps go with their fiber.
void Worker::retire_heap(Call* call) {
  // Its tasks go before its heap, and so do the task groups on it that
  // settle_tasks would have looked at.
  end_children(call);
  leave_group_queue(call);
  forget_waits(call);
  if (!m_groups.empty())
    m_groups.erase(std::remove_if(m_groups.begin(), m_groups.end(), [&](const auto& g) { return g.second == call; }), m_groups.end());
  constexpr size_t kRetireFrom = 1 << 20;
  if (!call->has_fiber || call->fiber.heap().used() < kRetireFrom) return;
  try {
    reserve_more(m_graveyard, 1);
  } catch (const std::bad_alloc&) {
    return; // freed with the fiber, then
  }
  m_graveyard.push_back(call->fiber.heap().detach());
}

// Once large heaps are freed, glibc is asked to hand the free pages back
// (malloc_trim): each worker allocates from its own arena, and pages freed in
// one arena serve no other, so without it a burst of large calls that ends
// on one worker while others go on grows the process past the engine's
// memory limit (test/native/memory_limit_test.cpp). Only after 16 MiB at
// once: a trim walks every arena. Not under AddressSanitizer or
// ThreadSanitizer: their allocator replaces glibc's, whose arenas then hold
// nothing to trim, and malloc_trim on them has crashed (a CI run under ASan
// faulted inside mtrim).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BRAKE_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BRAKE_SANITIZED_ALLOCATOR 1
#endif
#endif
void Worker::free_graveyard() {
  size_t freed = 0;
  for (vm::Heap::Remains& r : m_graveyard) {
    freed += r.used;
    vm::Heap::free_remains(r);
  }
  m_graveyard.clear();
#if defined(__GLIBC__) && !defined(BRAKE_SANITIZED_ALLOCATOR)
  if (freed >= (size_t(16) << 20)) malloc_trim(0);
#else
  (void)freed;
#endif
}

// Cleanup, then delivery: the promise settles only after cleanup has run.
// The caller has settled the call (its fiber is gone, its result filled in).
void Worker::finish(Call* call) {
  if (call->operation != kNoOperation) drop_operation(call, true);
  if (!m_llm_runs.empty()) forget_llm_run(call);
  call->phase = Phase::Done;
  if (call->sleep_timer != kNoTimer) m_timers.remove(call->sleep_timer);
  if (call->deadline_timer != kNoTimer) m_timers.remove(call->deadline_timer);
  if (brake_token* t = token_unlink(call)) drop_token_ref(t);
  call->result.id = call->id;
  m_calls--;
  m_finished_total++;
  m_events.push_back(Event::completion(call));
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
