// worker.h: one worker thread of an engine.
//
// A worker owns its calls' VM state, its timer heap and its ready queue;
// only its thread touches them. Other threads talk to it through the inbox
// (start, cancel, stop messages), guarded by m_mu, and the VM dispatch
// table: posting a message interrupts it, so a running script yields at its
// next back-edge or call and the message is seen within
// microseconds even while a script computes. A computing call that has
// others waiting behind it (ready calls, due timers) publishes a slice
// deadline, which the engine's ticker enforces the same way.
//
// Invariants: every admitted call is finished exactly once (finish() is the
// only path to Phase::Done); a finished call is in neither the ready queue
// nor the timer heap; the thread exits only after stop was requested and it
// holds no unfinished call.
//
// Stand-in rule. Worker state is touched by this thread, except while it is
// blocked in wait_for_work (m_waiting true under m_mu): it cannot leave the
// wait without m_mu, so a thread holding m_mu then owns the worker's state.
// A cancelling thread uses that to finish a few sleeping calls at once, in
// the worker's place (finish_cancels_here), instead of waking the worker and
// having it wake the host in turn: one cross-thread wake-up less between an
// abort and the rejection. Only in notify mode (Engine::may_finish_off_worker):
// completion callbacks still run on workers only.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/call.h"
#include "runtime/timer_heap.h"

namespace brake::runtime {

class Engine;

class Worker {
public:
  explicit Worker(Engine& engine);
  ~Worker();

  void start();
  void join();

  // Any thread. Each takes a new reference to `call` for the message.
  void post_start(Call* call) { post(MessageKind::Start, call); }
  void post_cancel(Call* call) { post(MessageKind::Cancel, call); }
  // Like post_cancel, but first tries to finish the (already flagged) call
  // here, in the worker's place (the stand-in rule). The caller must hold no
  // lock the finish could take (a token's mutex). Any thread.
  void cancel_call(Call* call);
  void post_stop() { post(MessageKind::Stop, nullptr); }
  // Calls of this worker to cancel, each with a reference for the message.
  using CallBatch = std::vector<Call*>;
  // Posts one message that cancels every call of `calls`, adopting their
  // references, without waking the worker: the caller then calls wake() (so
  // a host thread posting to several workers is not competing for a core
  // with the first one it woke). Without memory for the message the
  // references are dropped: the calls, already flagged, stop at their next
  // checkpoint instead. Any thread.
  // Returns whether the worker still needs wake(): not when the cancels
  // were finished at once in its place (see the stand-in rule above).
  bool post_cancels_quietly(std::unique_ptr<CallBatch> calls);
  // Wakes the worker if it waits, and makes a running script yield. Any thread.
  void wake();

  // Timers pending (for tests of "nothing leaks"). Approximate from other threads.
  size_t pending_timers() const { return m_timer_count.load(std::memory_order_relaxed); }

  // Makes a running script yield at its next back-edge or call. Any thread.
  void interrupt() { m_dispatch.interrupt(); }
  // The steady-clock time (ns) at which the running script should yield, or
  // 0 when it may run on. Read by the engine's ticker.
  int64_t slice_deadline() const { return m_slice_deadline.load(std::memory_order_seq_cst); }

private:
  enum class MessageKind : uint8_t { Start, Cancel, CancelMany, Stop };
  struct Message {
    MessageKind kind;
    union {
      Call* call;       // Start, Cancel (holds a reference); Stop: nullptr
      CallBatch* calls; // CancelMany (owned, holds a reference to each)
    };
  };

  void post(MessageKind kind, Call* call);
  bool finish_cancels_here(Call* const* calls, size_t n);
  void loop();
  bool wait_for_work(std::vector<Message>& batch);
  void handle(const Message& m);
  static void discard(const Message& m);
  void admit(Call* call);
  void on_cancel(Call* call);
  void fire_timers();
  void run_ready();
  void run_call(Call* call);
  void finish_value(Call* call);
  void finish_error(Call* call);
  void finish_cancelled(Call* call, brake_origin origin);
  void fail_call(Call* call, const char* kind, std::string message);
  void finish_failed(Call* call, vm::ScriptError error);
  void finish(Call* call);
  void drop_token_ref(brake_token* t);
  void flush_token_refs();

  Engine& m_engine;
  std::thread m_thread;

  std::mutex m_mu;
  std::condition_variable m_cv;
  std::vector<Message> m_inbox;
  bool m_waiting = false;
  vm::DispatchTable m_dispatch;
  std::atomic<int64_t> m_slice_deadline{0};
  std::atomic<size_t> m_timer_count{0};

  // ---- worker thread only
  std::deque<Call*> m_ready;
  std::vector<Call*> m_finished; // finished this iteration, delivered at its end
  TimerHeap m_timers;
  // Token references dropped by finished calls, released in one atomic
  // operation per run of calls with the same token (a mass cancel finishes
  // thousands in a row), at the latest at the end of each loop iteration.
  brake_token* m_dropped_token = nullptr;
  uint32_t m_dropped_refs = 0;
  size_t m_calls = 0;
  bool m_stopping = false;
};

} // namespace brake::runtime
