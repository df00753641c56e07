#include "runtime/engine.h"

#include <algorithm>
#include <thread>

#include "common/utf8.h"
#include "runtime/call_stream.h"
#include "runtime/token.h"
#include "runtime/value_convert.h"

namespace brake::runtime {

bool on_worker_thread(); // worker.cpp

namespace {
thread_local int t_in_callback = 0;
constexpr size_t kCallsPerWorkerTurn = 16;
} // namespace

bool in_engine_callback_context() { return t_in_callback > 0 || on_worker_thread(); }

Engine::Engine(std::shared_ptr<const vm::CompiledProgram> program, const brake_engine_options& options,
               std::vector<HostBinding> host, HttpConfig http, Environment env)
    : m_program(std::move(program)),
      m_max_depth(options.max_call_depth ? options.max_call_depth : 1000),
      m_memory(size_t(std::min<uint64_t>(options.call_memory_limit, SIZE_MAX)),
               size_t(std::min<uint64_t>(options.engine_memory_limit, SIZE_MAX))),
      m_notify(options.notify),
      m_notify_data(options.notify_data),
      m_host(std::move(host)),
      m_http(std::move(http)),
      m_env(std::move(env)),
      m_shell(options.allow_shell != 0) {
  m_host.push_back(m_http.transport);
  m_rr_counters.reset(new std::atomic<uint64_t>[m_program->clients.size() + 1]());
  for (const llm::ClientInfo& c : m_program->clients)
    if (c.provider == llm::Provider::RoundRobin) m_has_round_robin = true;
  // At most 256 (BRAKE_MAX_WORKER_THREADS): operation ids carry the worker's index in a byte.
  size_t n = options.worker_threads ? options.worker_threads
                                    : std::min<size_t>(BRAKE_MAX_WORKER_THREADS, std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 0; i < n; i++) m_workers.push_back(std::make_unique<Worker>(*this, uint8_t(i)));
  try {
    for (auto& w : m_workers) w->start();
    m_ticker = std::thread([this] { ticker_loop(); });
  } catch (...) {
    // A thread could not be created: stop and join the ones that were, so
    // no running thread outlives this half-built engine.
    for (auto& w : m_workers) w->post_stop();
    for (auto& w : m_workers) w->join();
    throw;
  }
}

int Engine::find_function(const char* name, uint32_t& index, std::string& message) const {
  auto it = m_program->function_index.find(name);
  if (it == m_program->function_index.end() || it->second >= m_program->declared_functions) {
    message = std::string("function '") + name + "' is not defined";
    return BRAKE_UNKNOWN_FUNCTION;
  }
  index = it->second;
  return BRAKE_OK;
}

int Engine::check_arguments(const vm::FunctionInfo& fn, const brake_value* const* args, size_t nargs,
                            std::string& message) const {
  if (nargs != fn.arity) {
    message = "function '" + fn.name + "' takes " + std::to_string(fn.arity) + " argument" + (fn.arity == 1 ? "" : "s") +
              ", got " + std::to_string(nargs);
    return BRAKE_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < nargs; i++) {
    std::string why;
    if (!args[i]) {
      message = "argument " + std::to_string(i + 1) + " is NULL";
      return BRAKE_INVALID_ARGUMENT;
    }
    if (!host_value_fits(*m_program, *args[i], fn.param_types[i], why)) {
      message = "argument '" + fn.param_names[i] + "' of '" + fn.name + "': " + why;
      return BRAKE_INVALID_ARGUMENT;
    }
  }
  return BRAKE_OK;
}

int Engine::check_tags(const char* const* names, const char* const* values, size_t count, std::string& message) {
  if (count && (!names || !values)) {
    message = "tag_names and tag_values must not be NULL when tag_count is not 0";
    return BRAKE_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < count; i++) {
    if (!names[i] || !values[i] || !is_valid_utf8(names[i]) || !is_valid_utf8(values[i])) {
      message = "tag " + std::to_string(i + 1) + " has a NULL or non-UTF-8 name or value";
      return BRAKE_INVALID_ARGUMENT;
    }
  }
  return BRAKE_OK;
}

void Engine::wake_ticker() {
  std::lock_guard<std::mutex> lock(m_ticker_mu);
  m_ticker_cv.notify_one();
}

// Interrupts every worker whose slice deadline is at or before `now`;
// returns whether any worker has a deadline at all.
bool Engine::interrupt_overdue(int64_t now) {
  bool any = false;
  for (auto& w : m_workers) {
    int64_t deadline = w->slice_deadline();
    if (deadline == 0) continue;
    any = true;
    if (now >= deadline) w->interrupt();
  }
  return any;
}

void Engine::ticker_loop() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kTickInterval = std::chrono::microseconds(500);
  // Under a stream of short calls deadlines come and go constantly: keep
  // ticking for a while after the last one instead of parking and being
  // woken again at once.
  constexpr int kIdleTicksBeforeParking = 20;
  int idle_ticks = 0;
  std::unique_lock<std::mutex> lock(m_ticker_mu);
  while (!m_ticker_stop) {
    bool any = interrupt_overdue(Clock::now().time_since_epoch().count());
    idle_ticks = any ? 0 : idle_ticks + 1;
    if (idle_ticks < kIdleTicksBeforeParking) {
      m_ticker_cv.wait_for(lock, kTickInterval);
      continue;
    }
    idle_ticks = 0;
    m_ticker_parked.store(true, std::memory_order_seq_cst);
    // Re-check after announcing the park (the Dekker handshake); INT64_MIN
    // only looks, nothing is overdue yet.
    if (!interrupt_overdue(INT64_MIN) && !m_ticker_stop) m_ticker_cv.wait(lock);
    m_ticker_parked.store(false, std::memory_order_seq_cst);
  }
}

Engine::~Engine() {
  std::string ignored;
  close(ignored);
  drain(0, nullptr);
}

int Engine::start(const StartRequest& r, std::string& message) {
  if (r.id == 0) {
    message = "call id 0 is reserved";
    return BRAKE_INVALID_ARGUMENT;
  }
  if (m_closed.load()) {
    message = "the engine is closed";
    return BRAKE_ENGINE_CLOSED;
  }
  bool pre_cancelled = r.token && r.token->cancelled.load(std::memory_order_acquire);
  // Look the function up and check the arguments before admitting (not for
  // a pre-cancelled call, which runs no code).
  uint32_t function = UINT32_MAX;
  if (!pre_cancelled) {
    if (int status = find_function(r.function, function, message)) return status;
    if (int status = check_arguments(m_program->functions[function], r.args, r.nargs, message)) return status;
  }
  if (int status = check_tags(r.tag_names, r.tag_values, r.tag_count, message)) return status;
  // Our reference to the new call, dropped on every path out (including an
  // exception such as bad_alloc): the table and the inbox take their own.
  struct Ref {
    Call* call;
    ~Ref() { call->release(); }
  } ref{Call::create(pre_cancelled ? 0 : vm::Fiber::inline_bytes(*m_program, function))};
  Call* call = ref.call;
  call->id = r.id;
  call->done = r.done;
  call->user_data = r.user_data;
  call->function = function;
  if (r.tag_count) {
    auto tags = std::make_unique<CallTags>();
    for (size_t i = 0; i < r.tag_count; i++) tags->emplace_back(r.tag_names[i], r.tag_values[i]);
    call->tags = std::move(tags);
  }
  if (r.stream && !pre_cancelled) call->stream = new CallStream(r.stream, r.stream_user_data);
  if (!pre_cancelled) {
    const vm::FunctionInfo& fn = m_program->functions[function];
    // The fiber is built here (in the call's own allocation) and its
    // arguments converted straight into its heap; the inbox hands it to the
    // worker (the inbox mutex orders this thread's writes before the
    // worker's reads).
    call->start_fiber(*m_program, m_max_depth, &m_memory);
    try {
      for (size_t i = 0; i < r.nargs; i++)
        call->fiber.push_arg(to_vm(*m_program, *r.args[i], fn.param_types[i], call->fiber.heap()));
      call->fiber.begin(function);
    } catch (const vm::MemoryLimitExceeded& e) {
      message = "the arguments of '" + fn.name + "' need more memory than " +
                (e.which() == vm::MemoryLimitExceeded::Which::Call ? "the call's" : "the engine's") + " limit allows (" +
                e.what() + ")";
      return e.which() == vm::MemoryLimitExceeded::Which::Call ? BRAKE_INVALID_ARGUMENT : BRAKE_NO_MEMORY;
    }
    if (r.timeout_ms) {
      call->deadline = std::chrono::steady_clock::now() + clamp_wait(r.timeout_ms);
    }
  }

  // Admission: counted in m_starting (so close() waits for it) on every
  // path out, including exceptions.
  struct Starting {
    std::atomic<int>& n;
    explicit Starting(std::atomic<int>& count) : n(count) { n.fetch_add(1); }
    ~Starting() { n.fetch_sub(1); }
  } starting{m_starting};
  if (m_closed.load()) {
    message = "the engine is closed";
    return BRAKE_ENGINE_CLOSED;
  }
  // The worker is chosen before the call becomes visible in the table, so a
  // concurrent cancel always has somewhere to post.
  Worker* worker = pick_worker();
  call->worker = worker;
  if (!m_table.insert(call)) {
    message = "call id " + std::to_string(r.id) + " is already live";
    return BRAKE_DUPLICATE_CALL_ID;
  }
  try {
    if (r.token && !token_attach(r.token, call)) call->request_cancel(BRAKE_ORIGIN_TOKEN);
    worker->post_start(call);
    worker->count_start();
  } catch (...) {
    // Not admitted after all (out of memory): undo, so the id is free, no
    // token points at the call, and no callback will ever run for it.
    token_detach(call);
    m_table.remove(call);
    throw;
  }
  return BRAKE_OK;
}

// Consecutive starts go to the same worker in small runs (that worker is
// then usually awake already, and runs its inbox as one batch), unless it
// holds more unfinished calls than another worker: then the least loaded
// worker takes the call. So a burst of calls that compute spreads over the
// workers, and an idle worker never sits beside one with a queue. A
// worker's load (Worker::load) is a hint, read without a lock; calls never
// move once placed.
Worker* Engine::pick_worker() {
  size_t ticket = m_next_worker.fetch_add(1, std::memory_order_relaxed);
  Worker* pick = m_workers[(ticket / kCallsPerWorkerTurn) % m_workers.size()].get();
  if (m_workers.size() == 1) return pick;
  uint64_t load = pick->load();
  if (load == 0) return pick;
  for (auto& w : m_workers) {
    uint64_t l = w->load();
    if (l < load) {
      pick = w.get();
      load = l;
      if (l == 0) break;
    }
  }
  return pick;
}

int Engine::cancel(brake_call_id id) {
  Call* call = m_table.find(id);
  if (!call) return BRAKE_NOT_FOUND;
  struct Ref {
    Call* call;
    ~Ref() { call->release(); } // also when posting runs out of memory
  } ref{call};
  if (call->request_cancel(BRAKE_ORIGIN_CANCEL)) call->worker->cancel_call(call);
  return BRAKE_OK;
}

void Engine::deliver(std::vector<Event>& events) {
  if (events.empty()) return;
  if (!m_notify) {
    run_events(events.data(), events.size());
    events.clear();
    return;
  }
  if (enqueue(events)) notify_host();
}

bool Engine::enqueue(std::vector<Event>& events) {
  if (events.empty()) return false;
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_queue_mu);
    was_empty = m_queue.empty();
    m_queue.insert(m_queue.end(), events.begin(), events.end());
  }
  events.clear();
  // Calls finished in place by a cancelling thread (Worker::finish_cancels_here)
  // are announced to that thread even when the queue was not empty, so it
  // can deliver them before its cancel returns (brake.h, `notify`).
  return was_empty || !on_worker_thread();
}

void Engine::run_events(const Event* events, size_t n) {
  // After a mass cancel these are 100k calls scattered over memory: fetch a
  // few ahead so their cache misses overlap (the call, then, once it has
  // arrived, its neighbours in the call table).
  constexpr size_t kAhead = 8;
  t_in_callback++;
  for (size_t i = 0; i < n; i++) {
    if (i + kAhead < n && events[i + kAhead].kind == Event::Kind::Completion) prefetch_call(events[i + kAhead].call);
    if (i + kAhead / 2 < n && events[i + kAhead / 2].kind == Event::Kind::Completion)
      CallTable::prefetch(events[i + kAhead / 2].call);
    const Event& e = events[i];
    if (e.kind == Event::Kind::Stream) {
      e.stream->deliver();
      e.stream->release();
      continue;
    }
    if (e.kind != Event::Kind::Completion) {
      run_host_event(e);
      continue;
    }
    Call* call = e.call;
    call->done(call->user_data, &call->result);
    m_table.remove(call);
  }
  t_in_callback--;
}

// A host never hears of an operation cancelled before it was handed over,
// nor of its cancel (operation.h: `delivered`).
void Engine::run_host_event(const Event& e) {
  HostOperation* op = e.op;
  struct Ref {
    HostOperation* op;
    ~Ref() { op->release(); }
  } ref{op};
  const HostBinding& b = m_host[op->function];
  if (e.kind == Event::Kind::HostCall) {
    if (op->state.load(std::memory_order_acquire) == OperationState::Cancelled) return;
    // Its call's cancel was requested, and its worker has not acted on it
    // yet: the host is spared the work (and so never hears of the cancel
    // either: it was not delivered). The worker finishes the call as
    // cancelled when it takes the cancel.
    if (op->call->cancel_origin() != BRAKE_ORIGIN_NONE) return;
    op->delivered = true;
    b.call(b.user_data, reinterpret_cast<const brake_host_call*>(op));
  } else if (op->delivered && b.cancel) {
    b.cancel(b.user_data, op->id, op->cancel_origin);
  }
}

size_t Engine::drain(size_t max, bool* more) {
  std::vector<Event> batch;
  {
    std::lock_guard<std::mutex> lock(m_queue_mu);
    size_t n = (max == 0 || m_queue.size() <= max) ? m_queue.size() : max;
    batch.assign(m_queue.begin(), m_queue.begin() + std::ptrdiff_t(n));
    m_queue.erase(m_queue.begin(), m_queue.begin() + std::ptrdiff_t(n)); // O(1) per event at a deque's front
    if (more) *more = !m_queue.empty();
  }
  run_events(batch.data(), batch.size());
  return batch.size();
}

size_t Engine::complete_operations(const uint64_t* ids, OperationOutcome* outcomes, size_t n, int* statuses) {
  // Found operations (each with a reference), grouped by worker: one lock
  // and one wake-up per worker for the whole batch.
  struct Found {
    Operation* op;
    size_t index;
  };
  std::vector<Found> found;
  found.reserve(n);
  struct Release {
    std::vector<Found>& found;
    ~Release() {
      for (Found& f : found) f.op->release();
    }
  } release{found};
  for (size_t i = 0; i < n; i++) {
    Operation* op = m_operations.find(ids[i]);
    if (statuses) statuses[i] = op ? BRAKE_NO_MEMORY : BRAKE_NOT_FOUND; // until its worker took it
    if (op) found.push_back(Found{op, i});
  }
  std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.op->worker < b.op->worker; });
  // Everything that allocates, before the first worker takes anything.
  std::vector<Operation*> ops;
  std::vector<OperationOutcome> moved;
  ops.reserve(found.size());
  moved.reserve(found.size());
  std::unique_ptr<bool[]> accepted(new bool[found.size()]);
  size_t done = 0;
  for (size_t start = 0; start < found.size();) {
    size_t end = start;
    ops.clear();
    moved.clear();
    while (end < found.size() && found[end].op->worker == found[start].op->worker) {
      ops.push_back(found[end].op);
      moved.push_back(std::move(outcomes[found[end].index]));
      end++;
    }
    try {
      found[start].op->worker->complete_operations(ops.data(), moved.data(), ops.size(), accepted.get() + start);
    } catch (const std::bad_alloc&) {
      start = end; // this worker's operations stay pending (BRAKE_NO_MEMORY)
      continue;
    }
    for (size_t k = start; k < end; k++) {
      if (statuses) statuses[found[k].index] = accepted[k] ? BRAKE_OK : BRAKE_NOT_FOUND;
      if (!accepted[k]) continue;
      m_operations.remove(found[k].op);
      done++;
    }
    start = end;
  }
  return done;
}

int Engine::complete_operation(uint64_t id, OperationOutcome&& outcome) {
  int status = BRAKE_NOT_FOUND;
  complete_operations(&id, &outcome, 1, &status);
  return status;
}

int Engine::host_part(uint64_t id, std::string_view bytes) {
  Operation* op = m_operations.find(id);
  if (!op) return BRAKE_NOT_FOUND;
  struct Ref {
    Operation* op;
    ~Ref() { op->release(); }
  } ref{op};
  if (op->state.load(std::memory_order_acquire) != OperationState::Pending) return BRAKE_NOT_FOUND;
  op->worker->post_part(op, std::make_unique<std::string>(bytes));
  return BRAKE_OK;
}

void Engine::post_results(const uint64_t* ids, brake_value* const* values, size_t n) {
  // Grouped by worker (the id's low byte), in order: one message batch each.
  std::vector<size_t> order;
  size_t start = 0;
  try {
    order.resize(n);
    for (size_t i = 0; i < n; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return (ids[a] & 0xFF) < (ids[b] & 0xFF); });
    std::vector<uint64_t> group_ids;
    std::vector<brake_value*> group_values;
    group_ids.reserve(n);
    group_values.reserve(n);
    while (start < n) {
      size_t worker = ids[order[start]] & 0xFF;
      group_ids.clear();
      group_values.clear();
      size_t end = start;
      for (; end < n && (ids[order[end]] & 0xFF) == worker; end++) {
        group_ids.push_back(ids[order[end]]);
        group_values.push_back(values[order[end]]);
      }
      if (worker < m_workers.size()) m_workers[worker]->post_results(group_ids.data(), group_values.data(), end - start);
      else
        for (brake_value* v : group_values) brake_value_free(v); // no such worker: no such operation
      start = end;
    }
  } catch (...) {
    // What was not handed over is freed (order is complete once start > 0).
    for (size_t i = start; i < n; i++) brake_value_free(values[order.size() == n ? order[i] : i]);
    throw;
  }
}

bool Engine::operation_finished(uint64_t id) {
  Operation* op = m_operations.find(id);
  if (!op) return true;
  bool finished = op->state.load(std::memory_order_acquire) != OperationState::Pending;
  op->release();
  return finished;
}

int Engine::close(std::string& message) {
  if (in_engine_callback_context()) {
    message = "brake_engine_close cannot be called from a worker thread or a completion callback";
    return BRAKE_MISUSE;
  }
  std::lock_guard<std::mutex> lock(m_close_mu);
  if (m_joined) return BRAKE_OK;
  m_closed.store(true);
  while (m_starting.load() != 0) std::this_thread::yield();
  m_table.for_each([](Call* call) {
    if (call->request_cancel(BRAKE_ORIGIN_CLOSE)) call->worker->post_cancel(call);
  });
  for (auto& w : m_workers) w->post_stop();
  for (auto& w : m_workers) w->join();
  {
    std::lock_guard<std::mutex> ticker_lock(m_ticker_mu);
    m_ticker_stop = true;
    m_ticker_cv.notify_one();
  }
  m_ticker.join();
  m_joined = true;
  return BRAKE_OK;
}

} // namespace brake::runtime
