// worker.h: one worker thread of an engine.
//
// A worker owns its calls' VM state, its timer heap, its ready queue and the
// operations its calls wait on; only its thread touches them. Other threads
// talk to it through the inbox (start, cancel, operation-done and stop
// messages), guarded by m_mu, and the VM dispatch table: posting a message
// interrupts it, so a running script yields at its next back-edge or call
// and the message is seen within microseconds even while a script
// computes. A computing call that has others waiting behind it (ready
// calls, due timers) publishes a slice deadline, which the engine's ticker
// enforces the same way.
//
// Invariants: every admitted call is finished exactly once (finish() is the
// only path to Phase::Done); a finished call is in neither the ready queue
// nor the timer heap and has no operation slot; the thread exits only after
// stop was requested and it holds no unfinished call.
//
// Stand-in rule. Worker state is touched by this thread, except while
// another thread has claimed the worker: a thread that finds it blocked in
// wait_for_work (m_waiting under m_mu) may set m_claimed, and until it
// clears it the worker does not leave the wait. The claimant then owns the
// worker's state without holding m_mu, so it may take other locks (a
// token's) and call the host's `notify` (brake.h: with no engine lock held).
// A cancelling thread uses that to finish a few waiting calls at once, in
// the worker's place (finish_cancels_here), instead of waking the worker and
// having it wake the host in turn: one cross-thread wake-up less between an
// abort and the rejection. Only in notify mode
// (Engine::may_finish_off_worker): callbacks still run on workers only.
// Calls that are not waiting (queued or ready) are left to the worker, which
// is then sent the cancel as usual.
//
// Locks: m_mu is never held while another lock is taken or the host is
// called, and nothing is called with it held but allocation.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "llm/sse.h"
#include "runtime/call.h"
#include "runtime/event.h"
#include "runtime/operation.h"
#include "runtime/timer_heap.h"

namespace brake::http {
class NativeTransport;
struct Request;
struct Answer;
} // namespace brake::http

namespace brake::llm {
struct ResolvedClient;
} // namespace brake::llm

namespace brake::runtime {

class Engine;
struct LlmRun;

// Makes room for `extra` more elements, growing geometrically (libstdc++'s
// reserve() allocates exactly what it is asked for: growing by one each
// time would copy the whole array each time).
template <typename T> void reserve_more(std::vector<T>& v, size_t extra) {
  size_t need = v.size() + extra;
  if (need > v.capacity()) v.reserve(std::max(need, 2 * v.capacity()));
}

class Worker final : public vm::TaskHost {
public:
  // `index` is the worker's place in its engine (operation ids carry it).
  Worker(Engine& engine, uint8_t index);
  ~Worker();

  void start();
  void join();

  // Any thread. Each takes a new reference to `call` for the message.
  void post_start(Call* call) { post(MessageKind::Start, call); }
  void post_cancel(Call* call) { post(MessageKind::Cancel, call); }
  // Like post_cancel, but first tries to finish the (already flagged) call
  // here, in the worker's place (the stand-in rule). The caller must hold no
  // lock. Any thread.
  void cancel_call(Call* call);
  // Completes each of `ops` (this worker's) that is still pending with its
  // outcome (moved from), and hands them to the worker in one message batch
  // with one wake-up; accepted[i] says whether ops[i] was pending (if not,
  // nothing changed for it). Throws bad_alloc, changing nothing, when the
  // messages cannot be queued. Any thread.
  void complete_operations(Operation* const* ops, OperationOutcome* outcomes, size_t n, bool* accepted);
  // Hands the worker values for operations ids[i] (each of this worker's,
  // by its id), adopting values[i] (may be null: null), in one batch with one
  // wake-up, without looking at the operations: the worker does, and drops
  // a value whose operation is no longer pending. Throws bad_alloc,
  // changing nothing (the values stay the caller's). Any thread.
  void post_results(const uint64_t* ids, brake_value* const* values, size_t n);
  // Hands the worker a part of operation `op`'s streamed body
  // (brake_host_part; the message takes a reference), read if the call
  // still waits on it. Throws bad_alloc, changing nothing. Any thread.
  void post_part(Operation* op, std::unique_ptr<std::string> part);
  void post_stop() { post(MessageKind::Stop, nullptr); }
  // Calls of this worker to cancel, each with a reference for the message.
  using CallBatch = std::vector<Call*>;
  // Posts one message that cancels every call of `calls`, adopting their
  // references, without waking the worker: the caller then calls wake() (so
  // a host thread posting to several workers is not competing for a core
  // with the first one it woke). Without memory for the message the
  // references are dropped: the calls, already flagged, stop at their next
  // checkpoint instead. The caller must hold no lock. Any thread.
  // Returns whether the worker still needs wake(): not when the cancels
  // were finished at once in its place (see the stand-in rule above).
  bool post_cancels_quietly(std::unique_ptr<CallBatch> calls);
  // Wakes the worker if it waits, and makes a running script yield. Any thread.
  void wake();

  // Calls placed on this worker and not yet finished (as of its latest
  // look): a hint for placing new calls. Any thread.
  uint64_t load() const {
    uint64_t started = m_started.load(std::memory_order_relaxed);
    uint64_t finished = m_finished.load(std::memory_order_relaxed);
    return started > finished ? started - finished : 0;
  }
  // A call was placed here (counted once its Start is posted). Any thread.
  void count_start() { m_started.fetch_add(1, std::memory_order_relaxed); }

  // Timers pending (for tests of "nothing leaks"). Approximate from other threads.
  size_t pending_timers() const { return m_timer_count.load(std::memory_order_relaxed); }
  // Native HTTP transfers in flight. Any thread.
  size_t http_transfers() const { return m_transfers.load(std::memory_order_relaxed); }
  // This worker's own thread: it has native transfers in flight.
  bool http_active() const { return m_transfers.load(std::memory_order_relaxed) != 0; }
  size_t http_sockets() const { return m_sockets.load(std::memory_order_relaxed); }
  // Spawned tasks not yet torn down. Any thread.
  size_t live_tasks() const { return m_live_tasks.load(std::memory_order_relaxed); }

  // Makes a running script yield at its next back-edge or call. Any thread.
  void interrupt() { m_dispatch.interrupt(); }
  // The steady-clock time (ns) at which the running script should yield, or
  // 0 when it may run on. Read by the engine's ticker.
  int64_t slice_deadline() const { return m_slice_deadline.load(std::memory_order_seq_cst); }

private:
  enum class MessageKind : uint8_t { Start, Cancel, CancelMany, OperationDone, OperationResult, OperationPart, Stop };
  struct Message {
    MessageKind kind;
    union {
      Call* call;         // Start, Cancel (holds a reference); Stop: nullptr
      CallBatch* calls;   // CancelMany (owned, holds a reference to each)
      Operation* op;      // OperationDone (holds a reference)
      brake_value* value; // OperationResult (owned; may be null)
      std::string* part;  // OperationPart (owned)
    };
    uint64_t id = 0;              // OperationResult: the operation's id
    Operation* part_op = nullptr; // OperationPart: the operation (holds a reference)
  };

  void post(MessageKind kind, Call* call);
  bool take_sleeper();
  void kick(bool sleeping);
  void post_message(Message m);
  bool claim();
  void release_claim();
  bool finish_cancels_here(Call* const* calls, size_t n);
  void loop();
  bool wait_for_work(std::vector<Message>& batch);
  void handle(const Message& m);
  static void discard(const Message& m);
  void admit(Call* call);
  bool on_cancel(Call* call);
  void fire_timers();
  void run_ready();
  void finish_cancelled_ready();
  bool has_mail() const { return m_mail.load(std::memory_order_acquire); }
  void publish_finished();
  void run_call(Call* call);
  void suspend(Call* call);
  void start_host_call(Call* call, const vm::Request& r);
  bool hand_to_host(Call* call, HostOperation* op, const std::string& what);
  void start_http(Call* call, const vm::Request& r);
  void send_http(Call* call, http::Request& req, uint64_t timeout, std::chrono::steady_clock::time_point deadline,
                 uint32_t redirects_left);
  bool follow_redirect(Call* call, std::unique_ptr<HttpChain>& chain, uint64_t timeout, const http::Answer& answer);
  void start_native_http(Call* call, http::Request& req, uint64_t timeout, std::chrono::steady_clock::time_point deadline,
                         std::unique_ptr<HttpChain> chain);
  void drive_http();
  void undo_native_start(Call* call, NativeHttpOperation* op);
  void http_timed_out(Call* call);
  void resume_http(Call* call, const std::string& request_url, const http::Answer& answer);
  // LLM functions (runtime/worker_llm.cpp).
  LlmRun* llm_run(Call* call) {
    if (m_llm_runs.empty()) return nullptr;
    auto it = m_llm_runs.find(call);
    return it == m_llm_runs.end() ? nullptr : it->second.get();
  }
  void start_llm(Call* call, const vm::Request& r);
  // baml.sys.shell (runtime/worker_shell.cpp).
  void start_shell(Call* call, const vm::Request& r);
  void start_shell_command(Call* call, const vm::Request& r);
  void resume_shell(Call* call, Operation* op);
  void reap_shell_threads();
  void stop_shells();
  // Spawned tasks (runtime/worker_tasks.cpp).
  void start(vm::FutureObj* future, vm::Value fn) override;
  void cancel(vm::FutureObj* future) override;
  void start_await(Call* call, const vm::Request& r);
  void await_timed_out(Call* call);
  void retry_await(Call* call);
  void end_children(Call* call);
  void end_task(Call* task);
  void settle_task(Call* task, vm::FutureObj::State state, const vm::ScriptError* error, vm::Value value);
  void leave_group_queue(Call* call);
  void settle_tasks();
  bool task_work() const { return !m_pending_cancels.empty() || !m_wakes.empty() || !m_dead_tasks.empty() || !m_groups.empty(); }
  void group_changed(vm::TaskGroupObj* group) override;
  void group_has_room(vm::TaskGroupObj* group, Call* root);
  void admit_waiters(vm::TaskGroupObj* group, Call* root);
  void forget_waits(Call* call);
  void forget_waits(Call* call, vm::Value target);
  void let_in(Call* call); // a task group's waiting spawner
  void purge_dead_tasks();
  bool finish_task_run(Call* call);
  void llm_attempt(Call* call, LlmRun& run);
  void llm_answered(Call* call, LlmRun& run, const http::Answer& answer);
  void llm_attempt_failed(Call* call, LlmRun& run, vm::LlmAttemptRecord record, int64_t retry_after_ms,
                          bool final_attempt = false);
  void send_llm_attempt(Call* call, LlmRun& run);
  void take_llm_answer(Call* call, LlmRun& run, const http::Answer& answer);
  void stream_part(Operation* op, const std::string& bytes);
  void llm_stream_part(Call* call, LlmRun& run, const std::string& bytes);
  bool read_llm_stream(Call* call, LlmRun& run, std::string_view bytes, std::string& error, bool end = false);
  bool stream_event(Call* call, brake_stream_event&& ev);
  struct WatchTarget {
    Worker* worker;
    Call* call;
  };
  static void watch_notify(void* user, const vm::FunctionInfo& fn, const vm::StringObj& name, vm::Value value,
                           vm::Heap& heap);
  void arm_stream_timer(Call* call, LlmRun& run);
  void uncharge_stream(Call* call, LlmRun& run);
  bool llm_stream_timer(Call* call, LlmRun& run);
  void forget_llm_run(Call* call);
  void llm_backoff_done(Call* call, LlmRun& run);
  void llm_resume(Call* call, vm::Value v);
  // The call goes on with the value `make()` builds on its heap (the answer
  // to what it waited for: `what` in the errors). A memory limit met while
  // building it fails the call, a cancel seen meanwhile finishes it.
  template <typename Make> void resume_with(Call* call, const std::string& what, Make&& make);
  const llm::ResolvedClient* resolved_client(uint32_t client, std::string& error, const char*& kind);
  uint32_t add_operation(Operation* op);
  void drop_operation(Call* call, bool cancel, brake_origin origin = BRAKE_ORIGIN_NONE);
  void on_operation_done(Operation* op);
  void finish_value(Call* call);
  void finish_error(Call* call);
  void finish_cancelled(Call* call, brake_origin origin);
  void fail_call(Call* call, const char* kind, std::string message);
  void fail_call(Call* call, vm::ScriptError error);
  void fail_catchable(Call* call, vm::ScriptError error);
  void raise_where_waiting(Call* call, vm::ScriptError error);
  template <typename Op> Op* new_operation(Call* call, const std::string& doing);
  void fail_http(Call* call, const char* kind, std::string message, const std::string& url);
  bool doomed_transfers() const;
  void bury_transfers();
  // `value`: an unhandled throw's value (brake_result_value), else null.
  void finish_failed(Call* call, vm::ScriptError error, ValuePtr value = nullptr);
  void finish(Call* call);
  void retire_heap(Call* call);
  void free_graveyard();
  void deliver();
  void drop_token_ref(brake_token* t);
  void flush_token_refs();

  Engine& m_engine;
  uint8_t m_index;
  std::thread m_thread;
  // Threads of running shell commands (joined once done, or when the worker goes).
  struct ShellThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<ShellThread> m_shell_threads;

  std::mutex m_mu;
  std::condition_variable m_cv;
  std::vector<Message> m_inbox;
  // Whether m_inbox holds anything: written with m_mu held, read without it
  // by the worker between calls (has_mail(), and run_call's "others").
  std::atomic<bool> m_mail{false};
  bool m_waiting = false;
  // The native transport's wake-up eventfd, once it exists (-1 before):
  // while the worker has transfers it sleeps in epoll (NativeTransport::wait),
  // and a post writes here as well as notifying m_cv.
  std::atomic<int> m_wake_fd{-1};
  std::atomic<size_t> m_transfers{0};
  std::atomic<size_t> m_sockets{0}; // open by m_transport (idle keep-alive ones too)
  bool m_claimed = false; // a stand-in owns the worker's state (see above)
  bool m_claim_waiter = false; // the worker waits for the claim to end
  vm::DispatchTable m_dispatch;
  std::atomic<int64_t> m_slice_deadline{0};
  std::atomic<size_t> m_timer_count{0};
  std::atomic<size_t> m_live_tasks{0};
  // Placement counts (load()): each on a line of its own, written by one
  // side only: starts by the starting threads, finishes by this worker once
  // per turn.
  alignas(64) std::atomic<uint64_t> m_started{0};
  alignas(64) std::atomic<uint64_t> m_finished{0};

  // ---- worker thread only (or its claimant)
  // Ready calls: fresh ones (new, or woken by a timer or an answer) run
  // before those that used up a time slice.
  std::deque<Call*> m_fresh;
  std::deque<Call*> m_ready;
  // Events of this iteration (completions, host calls and cancels, in the
  // order they happened), handed to the engine at its end.
  std::vector<Event> m_events;
  TimerHeap m_timers;
  // The operations calls wait on, by Call::operation (each holds a
  // reference); free slots are listed in m_free_operations.
  std::vector<Operation*> m_operations;
  std::vector<uint32_t> m_free_operations;
  // Heaps of finished calls, freed after their completions were delivered.
  std::vector<vm::Heap::Remains> m_graveyard;
  // The native HTTP transport (own HTTP/1.1 client and libcurl), made on this worker's first request;
  // freed with the worker (its eventfd must outlive every post).
  http::NativeTransport* m_transport = nullptr;
  bool m_http_polled = false; // the last wait was NativeTransport::wait: drive it
  // LLM calls between their CALL_LLM and their value (or their end).
  std::unordered_map<Call*, std::unique_ptr<LlmRun>> m_llm_runs;
  std::vector<llm::SseEvent> m_sse_events; // read_llm_stream's, kept for their capacity
  // Clients with env.NAME resolved from the engine's environment, made on
  // this worker's first use of each (by client index; null: not yet).
  std::vector<std::unique_ptr<llm::ResolvedClient>> m_resolved_clients;
  // Token references dropped by finished calls, released in one atomic
  // operation per run of calls with the same token (a mass cancel finishes
  // thousands in a row), at the latest at the end of each loop iteration.
  brake_token* m_dropped_token = nullptr;
  uint32_t m_dropped_refs = 0;
  // Spawned tasks: the task whose script runs (the spawner of what it
  // spawns); cancels asked by scripts, torn down once the running task gives
  // the worker back; calls to look at again (awaiting a task that ended, or
  // room in a group); ended tasks still in a ready queue (each holds a
  // reference until purge_dead_tasks takes them out).
  Call* m_spawner = nullptr;
  std::vector<Call*> m_pending_cancels;
  std::vector<Call*> m_wakes;
  std::vector<Call*> m_dead_tasks;
  // Task groups that may have room for their waiting spawners, each with
  // the call whose heap holds it (its entries go when that call's heap does).
  std::vector<std::pair<vm::TaskGroupObj*, Call*>> m_groups;
  size_t m_calls = 0;
  uint64_t m_finished_total = 0;  // published as m_finished
  size_t m_cancelled_ready = 0;   // ready calls cancelled since run_ready last looked
  bool m_stopping = false;
};

template <typename Make> void Worker::resume_with(Call* call, const std::string& what, Make&& make) {
  try {
    call->fiber.resume(make());
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", what + ": " + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory taking " + what);
    return;
  }
  call->phase = Phase::Ready;
  m_fresh.push_back(call);
}

} // namespace brake::runtime
