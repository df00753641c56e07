// interpreter.h: runs the bytecode of one call.
//
// A Fiber is one call's VM state: its heap, value stack and frames. It never
// performs I/O and never blocks. run() returns when the call finishes, fails,
// needs something from the runtime (Suspended: a sleep, later HTTP/LLM/host
// operations), or is asked to yield (Yielded). The runtime resumes it later
// with resume(value).
//
// Cancellation polling: the interpreter dispatches every instruction
// through its worker's DispatchTable, whose address it keeps in a register
// for the whole run, as it would a fixed table: polling adds no instruction
// to the dispatch (callgrind, checks in vs out: ±0.00 %). To stop a
// running script, the worker (or anyone posting to it: a cancel, a new call,
// the engine's time-slice ticker) points the table's back-edge and call
// entries (LOOP, CALL) at a handler that yields. So a `while (true) {}`
// stops within one loop iteration of a cancel.
// Building with BRAKE_NO_CANCEL_CHECKS always uses the fixed table (only to
// measure the cost of the checks).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/flat_map.h"
#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::vm {

enum class RunStatus : uint8_t {
  Finished,  // result() holds the return value
  Failed,    // error() holds the script error
  Suspended, // request() says what the call waits for
  Yielded,   // asked to give the worker back; call run() again to continue
  Caught,    // (inside the interpreter only: a failure went to a catch; never returned by run())
};

// What a suspended call waits for. The runtime reads it after Suspended and
// answers with resume() or raise().
// How an Await request waits on its futures (request_args()[0]: one
// future, or an array of them).
enum class AwaitMode : uint8_t {
  One,        // await f, with_timeout: f's outcome
  All,        // baml.future.all: every value, or the first failure (array order)
  Any,        // baml.future.any: the first value; the first failure once all failed
  Race,       // baml.future.race: the first outcome, value or failure
  AllSettled, // baml.future.all_settled: the futures, once all are settled
};

struct Request {
  enum class Kind : uint8_t { None, Sleep, HostCall, Http, Llm, Shell, Await, GroupAdmit } kind = Kind::None;
  int64_t sleep_ms = 0;       // Sleep; Await: its timeout (-1: none)
  AwaitMode await_mode = AwaitMode::One; // Await
  uint32_t host_function = 0; // HostCall: index into CompiledProgram::host_functions;
                              // Llm: index into CompiledProgram::llm_functions
  uint8_t argc = 0;           // HostCall, Http, Llm, Shell, Await, GroupAdmit: the arguments are Fiber::request_args()
};

// What the runtime keeps about a fiber's place among the call's tasks
// (runtime/call.h's TaskLinks), owned by the fiber.
struct TaskLinksBase {
  virtual ~TaskLinksBase() = default;
};

// What the VM asks of the runtime for spawned tasks (RunContext::tasks).
// Called on the call's worker, possibly in the middle of an instruction:
// neither may run script code or collect the heap.
struct TaskHost {
  // Starts a task that runs `fn` (a function value of no parameters) and
  // settles `future` with its outcome. Throws MemoryLimitExceeded or
  // bad_alloc (nothing started).
  virtual void start(FutureObj* future, Value fn) = 0;
  // Stops the task of `future`, whose state is already Cancelled: it and
  // its own tasks are torn down (at once, or as soon as the running task
  // gives the worker back).
  virtual void cancel(FutureObj* future) = 0;
  // `group` may have room for its waiting spawners now (it was cancelled).
  virtual void group_changed(TaskGroupObj* group) = 0;

protected:
  ~TaskHost() = default;
};

struct ScriptFrame {
  std::string function;
  uint32_t line;
};

// What an HTTP exchange that failed a call was (brake_result_http_*).
struct HttpFailure {
  int64_t status = 0; // the response's status_code (0: no response)
  std::string url;
  std::string body;   // an excerpt of the response body (kHttpBodyExcerpt bytes at most)
};
constexpr size_t kHttpBodyExcerpt = 1024; // BRAKE_HTTP_BODY_EXCERPT

// One attempt of an LLM call that failed (brake_result_llm_*).
struct LlmAttemptRecord {
  std::string client;   // the primitive client's name
  std::string provider; // its provider ("openai", "anthropic", ...)
  int64_t status = 0;   // the HTTP status (0: no response)
  std::string error;    // why the attempt failed
  uint64_t duration_us = 0;
  std::string body;     // an excerpt of the response body (kHttpBodyExcerpt bytes at most)
};
struct LlmFailure {
  std::vector<LlmAttemptRecord> attempts; // in the order they were made
};

struct ScriptError {
  std::string kind; // "panic", "overflow", "division_by_zero", ...
  std::string message;
  std::vector<ScriptFrame> frames; // innermost first
  std::string code; // host_error: the host's own code ("" when it gave none)
  std::shared_ptr<const HttpFailure> http = nullptr; // set when an HTTP exchange failed the call (BRAKE_HTTP_ERROR)
  std::shared_ptr<const LlmFailure> llm = nullptr;   // set when every attempt of an LLM call failed (BRAKE_LLM_ERROR)
  Value thrown = Value(); // unhandled_throw: the value thrown (on the failed fiber's heap; Fiber::thrown())
};

// The table a worker's scripts dispatch through (see the top of this file).
// interrupt() may be called from any thread; a call that races reset() at
// worst yields once for nothing (the worker then finds no message and goes
// on), it never misses an interrupt posted after the worker last looked.
class DispatchTable {
public:
  DispatchTable();
  void interrupt();
  void reset();
  bool interrupted() const;
  const std::atomic<const void*>* entries() const { return m_entries; }

private:
  std::atomic<const void*> m_entries[size_t(OpCode::COUNT_)];
};

// Where a streamed call's `watch let` changes go (RunContext::watch):
// notify(user, function, name, value, heap) runs on the call's worker, in
// the middle of an instruction; it may throw Interrupted or
// MemoryLimitExceeded (the call ends with them).
struct WatchSink {
  void (*notify)(void* user, const FunctionInfo& function, const StringObj& name, Value value, Heap& heap);
  void* user;
};

struct RunContext {
  // The worker's table (nullptr only in describe mode, used once to
  // publish the handler addresses).
  const std::atomic<const void*>* table = nullptr;
  // The call's state word (its kCancelOriginMask bits are set once
  // cancellation was requested); read by baml.sys.cancellation_requested().
  const std::atomic<uint32_t>* cancel_state = nullptr;
  // The engine's environment (its `env` option; never the process's):
  // what env.NAME, env.get and env.get_or_panic read. Null: empty.
  const std::unordered_map<std::string, std::string>* env = nullptr;
  // Null unless someone observes the call's watched variables (a stream):
  // then WATCH starts watching and changes are reported here.
  const WatchSink* watch = nullptr;
  // Spawned tasks (null: spawn fails, as in a program run without a runtime).
  TaskHost* tasks = nullptr;
};

class Fiber {
  struct Frame {
    const FunctionInfo* fn;
    const uint8_t* ip;
    size_t base; // index of the first local in m_stack
  };

public:
  // Bytes that hold the first frame and the whole value stack of a call of
  // `function` that calls nothing else: with that much `storage` the fiber
  // allocates nothing until the script calls a function (or something
  // deeper needs more stack).
  static size_t inline_bytes(const CompiledProgram& program, uint32_t function) {
    const FunctionInfo& fn = program.functions[function];
    return (size_t(fn.num_locals) + fn.max_stack) * sizeof(Value) + sizeof(Frame);
  }

  // `storage` is null or inline_bytes(program, function) bytes, 16-byte
  // aligned, that outlive the fiber (the runtime puts them in the call's own
  // allocation).
  // `pool` (null: unlimited) is the engine's memory account, which every
  // allocation of the call is charged to (MemoryLimitExceeded past it).
  Fiber(const CompiledProgram& program, uint32_t function, uint32_t max_depth, void* storage = nullptr,
        MemoryPool* pool = nullptr);
  // A spawned task's fiber: it shares `root`'s heap (the call's first
  // fiber, which outlives it) and settles `future`.
  Fiber(const CompiledProgram& program, uint32_t function, uint32_t max_depth, void* storage, Fiber& root,
        FutureObj* future);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  Heap& heap() { return m_heap; }
  // Pushes the next argument (before begin()).
  void push_arg(Value v) {
    grow(m_sp + 1);
    m_stack[m_sp++] = v;
  }
  // Enters `function` (the one the fiber was made for) with the arguments
  // pushed so far; run() then executes it.
  void begin(uint32_t function);

  RunStatus run(const RunContext& ctx);
  // Completes the pending request with `v` (pushed as the request's result).
  void resume(Value v);
  // Completes the pending request with an error raised where the script
  // waited: a catch around that point gets it (Yielded: run() goes on from
  // the catch), else the call fails with it and the script stack there
  // (Failed).
  RunStatus raise(ScriptError error);
  // Whether a catch is open (raise() would go to it).
  bool catching() const { return m_handlers && !m_handlers->empty(); }
  // After Failed with kind unhandled_throw: the value thrown (its heap is the
  // fiber's).
  Value thrown() const { return m_error ? m_error->thrown : Value(); }

  // ---- spawned tasks (vm/tasks.cpp)
  // Enters `fn` (a function value of no parameters) with its captures; run()
  // then executes it. A task's fiber begins so instead of begin().
  void begin_task(const FunctionObj& fn);
  // A task's future (null for the call's own fiber).
  FutureObj* task_future() const { return m_tasks ? m_tasks->future : nullptr; }
  // The runtime's links of this fiber (null until set), freed with it.
  TaskLinksBase* task_links() const { return m_tasks ? m_tasks->links.get() : nullptr; }
  // Throws bad_alloc (nothing set) only on a call's first fiber that has
  // not spawned yet.
  void set_task_links(std::unique_ptr<TaskLinksBase> links) {
    if (!m_tasks) m_tasks = std::make_unique<Tasks>();
    m_tasks->links = std::move(links);
  }
  // While Suspended on Await: whether the futures it waits on answer it now.
  // If they do, the request is completed (the value pushed, or the failure
  // raised where it waits) and Yielded (run on) or Failed is returned.
  std::optional<RunStatus> try_finish_await(TaskHost& host);
  // While Suspended on GroupAdmit: spawns into the group, which has room
  // now, and goes on with the future (Yielded).
  RunStatus admit_to_group(TaskHost& host);
  // While Suspended on GroupAdmit: the runtime's note of its place in the
  // group's line (TaskGroupObj::popped counts from there).
  uint64_t group_ticket() const { return uint64_t(m_request_arg); }
  void set_group_ticket(uint64_t ticket) { m_request_arg = int64_t(ticket); }
  // A task this one spawned failed and nothing has looked at its future:
  // reported at this task's next await (fire and forget) or end.
  void add_unobserved(FutureObj* f);
  // At the task's end: fails it (Failed) with the error of a task it
  // spawned that failed unobserved, if any.
  std::optional<RunStatus> fail_unobserved() { return check_unobserved(nullptr, true); }
  // The futures of the calls' tasks that are settled by the runtime hold
  // their outcomes on this heap.
  Value result() const { return m_stack[0]; } // after Finished
  Request request() const; // after Suspended
  // A HostCall's arguments (request().argc of them), valid until resume().
  const Value* request_args() const { return m_stack + m_sp; }
  const ScriptError& error() const { return *m_error; } // after Failed
  // While Suspended: collects what the runtime allocated on the heap for the
  // request and let go of (a streamed reply's partial values), if enough
  // has been allocated to want it. The roots are the stack and the
  // request's arguments.
  void collect_suspended(const std::atomic<uint32_t>* cancel_state) {
    if (m_heap.wants_collect()) collect(m_sp + request().argc, cancel_state);
  }

private:
  // Collects the heap: the roots are this fiber's first `live` stack slots
  // and, when the call has spawned tasks, every other task's stack.
  void collect(size_t live, const std::atomic<uint32_t>* cancel_state);
  void init_stack(const FunctionInfo& fn, void* storage);
  void add_roots(std::vector<Heap::Roots>& roots, size_t live) const;
  // The builtins of spawned tasks (spawn, await, the combinators, futures,
  // task groups and cancel tokens): like builtin().
  std::optional<RunStatus> task_builtin(uint16_t id, size_t argc, const RunContext& ctx);
  std::optional<RunStatus> await_now(Value target, AwaitMode mode, int64_t timeout_ms, size_t argc, TaskHost& host);
  RunStatus take_failure(const FutureObj& f, const uint8_t* ip);
  Value gather(Value target, bool futures);
  std::optional<RunStatus> check_unobserved(const uint8_t* ip, bool all);
  Value spawn(Value fn, Value token, Value group, bool detached, TaskHost& host);
  RunStatus fail(const uint8_t* ip, std::string kind, std::string message);
  Value* named_field(Value o, const StringObj* name);
  // "class 'P' has no field 'f'" (or not an instance), as a failure at `ip`.
  [[gnu::noinline]] RunStatus field_error(const uint8_t* ip, Value o, const StringObj* name, const char* verb);
  [[gnu::noinline]] RunStatus class_error(const uint8_t* ip, Value o, uint32_t cls, uint32_t field, const char* verb);
  // Slow paths of run(), out of line (see interpreter.cpp). run() calls
  // them after saving its registers (SAVE), except concat().
  [[gnu::noinline]] RunStatus fail(const uint8_t* ip, const char* kind, const char* message);
  void attach_response(Value response, Value body);
  // "<what> cannot be applied to <a> and <b>"
  [[gnu::noinline]] RunStatus type_error(const uint8_t* ip, const char* what, Tag a, Tag b);
  // "<message><t>"
  [[gnu::noinline]] RunStatus type_error(const uint8_t* ip, const char* message, Tag t);
  [[gnu::noinline]] RunStatus index_error(const uint8_t* ip, int64_t index, size_t length);
  [[gnu::noinline]] RunStatus key_error(const uint8_t* ip, const std::string& key);
  // Fails a CALL that would exceed m_max_depth.
  [[gnu::noinline]] RunStatus stack_overflow();
  // A new string: `a` followed by `b` (both strings); a big one is copied
  // in slices that look at the call's state (Interrupted).
  [[gnu::noinline]] Value concat(Value a, Value b, const RunContext& ctx);
  // Runs builtin `id` on the `argc` values just above m_sp. nullopt: its
  // result was pushed, go on; otherwise run() returns this status (Failed or
  // Suspended).
  [[gnu::noinline]] std::optional<RunStatus> builtin(uint16_t id, size_t argc, const RunContext& ctx);
  bool enter(uint32_t function, size_t argc);
  [[gnu::noinline]] RunStatus check_arguments(const uint8_t* ip, const FunctionObj& f, const Value* args, size_t argc,
                                              const RunContext& ctx);

  // `watch let` (only while RunContext::watch is set). A variable is watched
  // while its frame lives and that frame's ip is inside its block
  // [begin, end) (byte offsets in the function's code): leaving the block by
  // its end, break, continue or return ends the watch, and entering it again
  // goes through WATCH, which starts a new one. A change is an assignment of
  // a value that is not == the old one, or a change (field, index, push,
  // pop) to an object reachable from the variable's value.
  using Reach = FlatMap<const Object*, bool, PointerPairHash>;
  struct Watch {
    uint32_t frame = 0;
    const FunctionInfo* fn = nullptr;
    uint32_t begin = 0, end = 0;
    uint16_t slot = 0;
    uint16_t options = 0;            // the local holding its options (x.$watch.options; null: none)
    const StringObj* name = nullptr; // a program constant
    std::shared_ptr<Reach> reach;    // the objects its value reaches (null: not known now)
    size_t reach_bytes = 0;          // what `reach` is charged to the call
  };
  bool watch_active(const Watch& w) const;
  // The watch of local `slot` of the current frame, if active.
  Watch* active_watch(uint16_t slot);
  [[gnu::noinline]] void watch_begin(uint16_t slot, uint16_t options, const StringObj* name, uint32_t begin, uint32_t end,
                                     const RunContext& ctx);
  // Whether the assignment changed an active watch's value (reported when `report`).
  [[gnu::noinline]] bool watch_assigned(uint16_t slot, Value old, const RunContext& ctx, bool report = true);
  [[gnu::noinline]] void watch_notify(uint16_t slot, const RunContext& ctx);
  static bool is_manual(Value when);
  [[gnu::noinline]] void watch_mutated(Value container, Value old, Value now, bool changed, const RunContext& ctx);
  void watch_forget_reach(Watch& w);
  void watch_report(const Watch& w, const RunContext& ctx);
  void watch_drop_frames();

  // throw / catch. A TRY pushes a handler (its frame, the stack height and
  // the catch's offset in the frame's code); END_TRY pops it; a RETURN drops
  // its frame's; a throw, or a failure (fail()) while a handler exists, cuts
  // the frames and the stack back to the innermost handler, pushes the
  // thrown value and goes on at its catch (Caught).
  struct Handler {
    uint32_t frame;
    uint32_t sp;
    uint32_t at;
  };
  bool unwind(Value thrown);
  [[gnu::noinline]] RunStatus throw_value(const uint8_t* ip, Value v);
  void drop_handlers();
  // Makes room for `needed` stack slots, keeping the first m_sp.
  void grow(size_t needed) {
    if (needed > m_stack_cap) grow_stack(needed);
  }
  void grow_stack(size_t needed);
  void grow_frames();

  // Fields are sized and ordered for a small fiber: a sleeping call holds
  // one, and a process may hold a million sleeping calls.
  const CompiledProgram& m_program;
  Heap m_own_heap; // the call's heap (unused by a spawned task's fiber)
  Heap& m_heap;    // m_own_heap, or the call's first fiber's
  // Spawned tasks: a task's link to the call's first fiber, or the first
  // fiber's list of its tasks' fibers (the heap's other roots). Allocated by
  // the first spawn.
  struct Tasks {
    Fiber* root = nullptr;        // a task's: the call's first fiber
    size_t index = 0;             // a task's place in root->m_tasks->fibers
    FutureObj* future = nullptr;  // a task's future (a root while it runs)
    std::vector<Fiber*> fibers;   // the first fiber's: every live task's fiber
    std::vector<Value> unobserved; // futures of this task's tasks that failed unobserved
    std::unique_ptr<TaskLinksBase> links; // the runtime's
    size_t stack_charged = 0;             // a task's stack and frame growth, charged to the call's heap
  };
  std::unique_ptr<Tasks> m_tasks;
  // [frame0 locals | operands | frame1 locals | ...]: m_stack_cap slots,
  // the first m_sp live. In the caller's storage until it outgrows it, then
  // owned (m_stack_owned). After Finished, slot 0 holds the result.
  Value* m_stack;
  Frame* m_frames; // m_frame_cap frames, the first m_frame_count live
  // The pending request's argument: Sleep's milliseconds, or a HostCall's
  // function index | argc << 32.
  int64_t m_request_arg = 0;
  std::unique_ptr<ScriptError> m_error; // allocated only when the script fails
  std::unique_ptr<std::vector<Watch>> m_watches; // allocated by the first observed `watch let`
  std::unique_ptr<std::vector<Handler>> m_handlers; // allocated by the first TRY
  uint32_t m_sp = 0;
  uint32_t m_stack_cap;
  uint32_t m_frame_count = 0;
  uint32_t m_frame_cap;
  uint32_t m_max_depth;
  Request::Kind m_request_kind = Request::Kind::None;
  bool m_stack_owned = false;
  bool m_frames_owned = false;
};

// True when `v` has type `t` (deep for arrays and maps). With `cancel_state`
// (may be null) a huge value's walk looks at it as it goes (Interrupted).
bool value_has_type(const CompiledProgram& p, Value v, lang::TypeId t,
                    const std::atomic<uint32_t>* cancel_state = nullptr);

// Outcome of a builtin: Ok with `out` set, Error with kind/message, or Suspend
// with a request for the runtime.
struct BuiltinResult {
  enum class Kind : uint8_t { Ok, Error, Suspend } kind = Kind::Ok;
  Value out;
  std::string error_kind, message;
  Request request;
};
BuiltinResult call_builtin(uint16_t id, Value* args, size_t argc, Heap& heap, const RunContext& ctx,
                           const CompiledProgram& program);

} // namespace brake::vm
