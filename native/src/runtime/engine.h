// engine.h: an engine — worker threads, the call table and completion
// delivery for one compiled program. No global state: a process may hold
// any number of engines.
//
// Invariants and lock order:
//  - A call is admitted (inserted in the table, counted live) only while the
//    engine is open. close() sets m_closed, then waits for m_starting to
//    drain, so every start either saw m_closed or is in the table before
//    close() sweeps it (a seq_cst Dekker handshake, no lock).
//  - Locks: a call-table or operation-table shard mutex, a worker inbox
//    mutex, a token mutex and m_queue_mu are each held only briefly, and
//    none is held while another is taken (only m_close_mu, which close()
//    holds throughout, has others taken under it). Callbacks, host functions
//    and `notify` run with no engine lock held.
//  - Events (completions, host calls and their cancels) reach the host in
//    the order each worker produced them: one FIFO queue, drained in order
//    (or run by the worker at once, in callback mode).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "brake.h"
#include "runtime/host_deadlines.h"
#include "http/request.h"
#include "runtime/call_table.h"
#include "runtime/event.h"
#include "runtime/operation.h"
#include "runtime/worker.h"
#include "vm/chunk.h"

namespace brake::runtime {

// The host's implementation of a host function (brake_host_binding).
struct HostBinding {
  brake_host_fn call = nullptr;
  brake_host_cancel_fn cancel = nullptr;
  void* user_data = nullptr;
};

// baml.http.fetch's settings (brake_engine_options.http_*).
struct HttpConfig {
  HostBinding transport; // call == nullptr: no host transport
  uint64_t timeout_ms = 0;
  uint64_t max_response_bytes = 0;
  http::Policy policy;
  std::string ca_pem; // native transport: CA certificates to trust instead of the system's ("": the system's)
  uint32_t max_redirects = 0;
  uint64_t connect_timeout_ms = 0;
  bool libcurl_only = false; // native transport: libcurl for every request (no own HTTP/1.1 client)
};

// What the host lets scripts read as environment variables (never the
// process environment unless the host passes it).
using Environment = std::unordered_map<std::string, std::string>;

struct StartRequest {
  brake_call_id id;
  const char* function;
  const brake_value* const* args;
  size_t nargs;
  uint64_t timeout_ms;
  brake_token* token;
  brake_completion_fn done;
  void* user_data;
  const char* const* tag_names = nullptr; // brake_call_options' tags (tag_count pairs)
  const char* const* tag_values = nullptr;
  size_t tag_count = 0;
  brake_stream_fn stream = nullptr; // brake_call_options' stream events
  void* stream_user_data = nullptr;
};

class Engine {
public:
  // `host` binds every host function the program declares, by index.
  // `env`: the variables scripts may read (env.NAME, env.get, env.get_or_panic).
  Engine(std::shared_ptr<const vm::CompiledProgram> program, const brake_engine_options& options,
         std::vector<HostBinding> host = {}, HttpConfig http = {}, Environment env = {});
  ~Engine();

  // Returns a status; on failure `message` explains it and nothing ran.
  int start(const StartRequest& r, std::string& message);
  // brake_engine_render_prompt (runtime/engine_prompt.cpp); any thread.
  int render_prompt(const char* function, const brake_value* const* args, size_t nargs, const brake_render_options& options,
                    ValuePtr& out, std::string& message);
  // brake_engine_parse (runtime/engine_prompt.cpp); any thread.
  int parse(const char* function, std::string_view text, const brake_parse_options& options, ValuePtr& out,
            std::string& message);
  // brake_engine_parse_json: the value as JSON (`json`), or, when JSON
  // cannot carry it exactly, as a tree (`out`); any thread.
  int parse_json(const char* function, std::string_view text, const brake_parse_options& options, brake_json& json,
                 ValuePtr& out, std::string& message);
  int cancel(brake_call_id id);
  size_t live_calls() const { return m_table.size(); }
  size_t live_tasks() const { return sum_over_workers(&Worker::live_tasks); }
  // Native HTTP transfers in flight and the sockets they (and idle
  // keep-alive connections) hold, all workers (for tests that nothing leaks).
  size_t http_transfers() const { return sum_over_workers(&Worker::http_transfers); }
  size_t http_sockets() const { return sum_over_workers(&Worker::http_sockets); }
  // Live timers of all workers, as of the end of each worker's latest loop
  // iteration (for tests of "nothing leaks").
  size_t pending_timers() const { return sum_over_workers(&Worker::pending_timers); }
  // Runs up to `max` queued events (0 = all); *more: whether some remain.
  size_t drain(size_t max, bool* more);
  // Completes pending operation `id` with `outcome` (brake_host_complete,
  // brake_host_fail). BRAKE_NOT_FOUND when it is unknown or no longer
  // pending. Any thread.
  int complete_operation(uint64_t id, OperationOutcome&& outcome);
  // brake_host_part: a part of a pending operation's streamed body, for its
  // worker. BRAKE_NOT_FOUND when the operation is unknown or no longer
  // pending. Any thread.
  int host_part(uint64_t id, std::string_view bytes);
  // Completes many at once (outcomes are moved from): statuses[i] (may be
  // null) is BRAKE_OK, BRAKE_NOT_FOUND, or BRAKE_NO_MEMORY (its worker
  // could not take it: still pending); returns how many were taken. One
  // lock and one wake-up per worker. Any thread.
  size_t complete_operations(const uint64_t* ids, OperationOutcome* outcomes, size_t n, int* statuses);
  // Whether operation `id` is unknown or no longer pending. Any thread.
  bool operation_finished(uint64_t id);
  size_t pending_operations() const { return m_operations.size(); }
  int close(std::string& message);

  // ---- used by workers
  // A worker published a slice deadline: make sure the ticker is awake.
  void ticker_wanted() {
    if (m_ticker_parked.load(std::memory_order_seq_cst)) wake_ticker();
  }
  const vm::CompiledProgram& program() const { return *m_program; }
  const HttpConfig& http() const { return m_http; }
  const Environment& env() const { return m_env; }
  bool shell_allowed() const { return m_shell; }
  // Round-robin client `c`'s calls so far (see llm/plan.h); any thread.
  uint64_t rr_counter(uint32_t c) const { return m_rr_counters[c].load(std::memory_order_relaxed); }
  // A call's turn of client `c` (the counter before it moved on), and the
  // turn given back by a call none of whose attempts ended.
  uint64_t take_rr_turn(uint32_t c) { return m_rr_counters[c].fetch_add(1, std::memory_order_relaxed); }
  void give_back_rr_turn(uint32_t c) { m_rr_counters[c].fetch_sub(1, std::memory_order_relaxed); }
  bool has_round_robin() const { return m_has_round_robin; }
  uint32_t max_call_depth() const { return m_max_depth; }
  // Bytes the engine's calls have drawn from its memory limit (whole chunks).
  size_t memory_in_use() const { return m_memory.in_use(); }
  // Delivers events (a worker, once per loop iteration, so the queue's lock
  // is taken once per batch; or a thread standing in for it): runs them now
  // or queues them for drain(). Empties `events`; on bad_alloc leaves them.
  void deliver(std::vector<Event>& events);
  // Drain mode, in two steps for a thread standing in for a worker (which
  // calls the host only after releasing its claim): queues `events`
  // (emptying it; on bad_alloc leaving it) and says whether the host must
  // be notified, then notify_host() does it.
  bool enqueue(std::vector<Event>& events);
  void notify_host() { m_notify(m_notify_data); }
  // A new operation id (never 0, never reused) of worker `index`: the low 8
  // bits say which worker (at most 256), so a result can go to it directly.
  uint64_t next_operation_id(uint8_t index) {
    return m_next_operation.fetch_add(1, std::memory_order_relaxed) << 8 | index;
  }
  // Hands values to the workers of operations ids[i] (adopting values[i];
  // null: null) without looking the operations up here: each worker does,
  // and drops a value whose operation is no longer pending. One lock and one
  // wake-up per worker. Throws bad_alloc after freeing the values it could
  // not hand over. Any thread.
  void post_results(const uint64_t* ids, brake_value* const* values, size_t n);
  OperationTable& operations() { return m_operations; }
  // Whether a host thread may finish a cancelled call in a worker's place
  // (Worker::finish_cancels_here): only while completions are queued for
  // drain (callbacks run on workers, as brake.h promises) and the engine is
  // open (close() lets the workers do it).
  bool may_finish_off_worker() const { return m_notify != nullptr && !m_closed.load(std::memory_order_relaxed); }

private:
  // parse and parse_json: `json` null for a tree only.
  int parse_with(const char* function, std::string_view text, const brake_parse_options& options, brake_json* json,
                 ValuePtr& out, std::string& message);
  // What start and render_prompt check first (BRAKE_OK, or a status with
  // `message`): a host-visible function by name, its arguments, call tags.
  int find_function(const char* name, uint32_t& index, std::string& message) const;
  int check_arguments(const vm::FunctionInfo& fn, const brake_value* const* args, size_t nargs, std::string& message) const;
  static int check_tags(const char* const* names, const char* const* values, size_t count, std::string& message);

  size_t sum_over_workers(size_t (Worker::*count)() const) const {
    size_t n = 0;
    for (const auto& w : m_workers) n += ((*w).*count)();
    return n;
  }

  // Runs each event: a completion callback (then removes the call from the
  // table), a host function, a host cancel.
  void run_events(const Event* events, size_t n);
  void run_host_event(const Event& e);
  Worker* pick_worker();
  void ticker_loop();
  bool interrupt_overdue(int64_t now);
  void wake_ticker();

  std::shared_ptr<const vm::CompiledProgram> m_program;
  uint32_t m_max_depth;
  // Before the workers: a call's heap (in a worker) may give memory back
  // to it until the workers are gone.
  vm::MemoryPool m_memory;
  std::vector<std::unique_ptr<Worker>> m_workers;
  CallTable m_table;
  std::atomic<bool> m_closed{false};
  std::atomic<int> m_starting{0};
  std::atomic<size_t> m_next_worker{0};
  bool m_joined = false;
  std::mutex m_close_mu;

  void (*m_notify)(void*) = nullptr;
  void* m_notify_data = nullptr;
  std::mutex m_queue_mu;
  std::deque<Event> m_queue; // drain mode: events waiting for drain()

  // By host function index; one more at the end: the HTTP host transport
  // (HostOperation::function == program().host_functions.size()).
  std::vector<HostBinding> m_host;
  HttpConfig m_http;
  // Deadlines of render_prompt and parse (engine_prompt.cpp).
  HostDeadlines m_host_deadlines;
  Environment m_env; // immutable after construction: read by every worker without a lock
  bool m_shell = false; // baml.sys.shell allowed (brake_engine_options.allow_shell)
  std::unique_ptr<std::atomic<uint64_t>[]> m_rr_counters; // per client (only round-robin ones move)
  bool m_has_round_robin = false;
  OperationTable m_operations;
  std::atomic<uint64_t> m_next_operation{1};

  // The time-slice ticker: while some worker runs a script with others
  // waiting behind it, it checks their slice deadlines every
  // kTickInterval and interrupts the overdue ones; otherwise it parks
  // (an idle engine costs no wake-ups). Parking is a Dekker handshake with
  // workers: each side stores (its flag / its deadline) and then reads the
  // other's, so a deadline is never published unseen by a parked ticker.
  std::thread m_ticker;
  std::mutex m_ticker_mu;
  std::condition_variable m_ticker_cv;
  std::atomic<bool> m_ticker_parked{false};
  bool m_ticker_stop = false; // guarded by m_ticker_mu
};

// True on a thread where closing an engine would deadlock (a worker, or
// inside a completion callback run by drain()).
bool in_engine_callback_context();

} // namespace brake::runtime
