// tasks.cpp: the VM's side of spawned tasks: spawn, await, the
// baml.future combinators, futures' methods, task groups and cancel tokens.
//
// Every task of a call is a fiber on the call's heap (the first fiber's):
// values pass between tasks as they are, and a collection marks every
// task's stack. The runtime (TaskHost) owns the tasks themselves: it starts
// them, settles their futures when they end, wakes the tasks awaiting them
// and tears a cancelled task down with its own tasks.
//
// Outcomes as a script sees them at an await: a value; the task's error,
// raised where the await is (a thrown value is thrown again as it was, a
// runtime error is caught as its "<kind>: <message>" string, as any other);
// or, for a cancelled task, the catchable error "cancelled: ...".
#include "vm/interpreter.h"

#include "vm/builtins.h"

namespace brake::vm {

namespace {

constexpr size_t kPruneFrom = 64; // a token's or group's list of futures is pruned of settled ones past this

// Drops the settled futures of `list` once it has doubled since it was last
// pruned (a long-lived token or group spawning many tasks stays small).
void prune_settled(std::vector<Value>& list) {
  if (list.size() < kPruneFrom || (list.size() & (list.size() - 1)) != 0) return; // at powers of two
  list.erase(std::remove_if(list.begin(), list.end(), [](Value v) { return v.as_future()->settled(); }), list.end());
}

// Cancels `f` if it is pending: it settles as cancelled, and its task stops.
bool cancel_future(FutureObj* f, TaskHost& host) {
  if (f->settled()) return false;
  f->state = FutureObj::State::Cancelled;
  f->observed = true;
  if (f->task) host.cancel(f);
  return true;
}

// token.cancel(): its tasks, and those of the any() tokens made over it
// (but never the sources of an any() token).
void cancel_token(CancelTokenObj* token, TaskHost& host) {
  std::vector<CancelTokenObj*> todo{token};
  while (!todo.empty()) {
    CancelTokenObj* t = todo.back();
    todo.pop_back();
    if (t->cancelled) continue;
    t->cancelled = true;
    for (Value f : t->futures) cancel_future(f.as_future(), host);
    for (Value d : t->dependents) todo.push_back(d.as_token());
  }
}

bool all_futures(const ArrayObj& a) {
  for (Value v : a.items)
    if (v.tag != Tag::Future) return false;
  return true;
}

} // namespace

void Fiber::begin_task(const FunctionObj& fn) {
  if (fn.bound) { // a method bound to its receiver (g.spawn(p.describe)): self is its one argument
    m_stack[m_sp++] = fn.self;
    enter(fn.function, 1);
    return;
  }
  enter(fn.function, 0);
  const FunctionInfo& info = m_program.functions[fn.function];
  Value* locals = m_stack + m_frames[0].base;
  for (size_t i = 0; i < fn.captures.size(); i++) locals[info.capture_slots[i]] = fn.captures[i];
}

// ---------------------------------------------------------------- the collector's roots

void Fiber::add_roots(std::vector<Heap::Roots>& roots, size_t live) const {
  roots.push_back(Heap::Roots{m_stack, live});
  if (m_tasks && !m_tasks->unobserved.empty()) roots.push_back(Heap::Roots{m_tasks->unobserved.data(), m_tasks->unobserved.size()});
}

void Fiber::collect(size_t live, const std::atomic<uint32_t>* cancel_state) {
  const Fiber* root = m_tasks && m_tasks->root ? m_tasks->root : this;
  if (!root->m_tasks) { // no task was ever spawned: the one stack
    m_heap.collect(m_stack, live, cancel_state);
    return;
  }
  // Every task's stack (a suspended one's request arguments too), and each
  // running task's future.
  std::vector<Heap::Roots> roots;
  std::vector<Value> futures;
  roots.reserve(root->m_tasks->fibers.size() + 2);
  futures.reserve(root->m_tasks->fibers.size());
  add_roots(roots, live);
  auto others = [&](const Fiber* f) {
    if (f == this) return;
    f->add_roots(roots, f->m_sp + (f->m_request_kind == Request::Kind::None ? 0 : f->request().argc));
  };
  others(root);
  for (const Fiber* f : root->m_tasks->fibers) {
    others(f);
    futures.push_back(Value::object(Tag::Future, f->m_tasks->future));
  }
  roots.push_back(Heap::Roots{futures.data(), futures.size()});
  m_heap.collect(roots, cancel_state);
}

// ---------------------------------------------------------------- spawning

Value Fiber::spawn(Value fn, Value token, Value group, bool detached, TaskHost& host) {
  FutureObj* f = m_heap.new_future();
  Value future = Value::object(Tag::Future, f);
  f->detached = detached;
  f->token = token;
  f->group = group;
  bool born_cancelled = (token.tag == Tag::CancelToken && token.as_token()->cancelled) ||
                        (group.tag == Tag::TaskGroup && group.as_group()->cancelled);
  if (born_cancelled) {
    f->state = FutureObj::State::Cancelled;
    return future;
  }
  // Listed before the task starts (a failure to list it starts nothing).
  if (token.tag == Tag::CancelToken) {
    CancelTokenObj* t = token.as_token();
    prune_settled(t->futures);
    if (t->futures.size() == t->futures.capacity()) m_heap.charge_object(t, (t->futures.size() + 4) * sizeof(Value));
    t->futures.push_back(future);
  }
  if (group.tag == Tag::TaskGroup) {
    TaskGroupObj* g = group.as_group();
    prune_settled(g->futures);
    if (g->futures.size() == g->futures.capacity()) m_heap.charge_object(g, (g->futures.size() + 4) * sizeof(Value));
    g->futures.push_back(future);
  }
  host.start(f, fn);
  if (group.tag == Tag::TaskGroup) group.as_group()->running++;
  return future;
}

RunStatus Fiber::admit_to_group(TaskHost& host) {
  Value* args = m_stack + m_sp;
  Value future = spawn(args[1], Value::null(), args[0], false, host);
  resume(future);
  return RunStatus::Yielded;
}

// ---------------------------------------------------------------- awaiting

void Fiber::add_unobserved(FutureObj* f) {
  if (!m_tasks) m_tasks = std::make_unique<Tasks>();
  m_tasks->unobserved.push_back(Value::object(Tag::Future, f));
}

// A task this one spawned failed and nothing looked at its future: at an
// await, a fire-and-forget task's error fails this task there (as BAML
// does: no catch around the await sees it); at the task's end (`all`),
// any such error. Failed (set up) or nullopt.
std::optional<RunStatus> Fiber::check_unobserved(const uint8_t* ip, bool all) {
  if (!m_tasks || m_tasks->unobserved.empty()) return std::nullopt;
  auto& list = m_tasks->unobserved;
  list.erase(std::remove_if(list.begin(), list.end(), [](Value v) { return v.as_future()->observed; }), list.end());
  for (Value v : list) {
    FutureObj* f = v.as_future();
    if (!all && !f->detached) continue;
    f->observed = true;
    // Not catchable: the handlers are set aside for this failure.
    auto handlers = std::move(m_handlers);
    if (!ip && m_frame_count) ip = m_frames[m_frame_count - 1].ip; // (none after the task returned)
    RunStatus status = fail(ip, f->error_kind, "a spawned task failed and nothing awaited it: " + f->error_message);
    m_handlers = std::move(handlers);
    if (f->error_kind == "unhandled_throw" && m_error) m_error->thrown = f->value;
    return status;
  }
  if (all) m_tasks->unobserved.clear();
  return std::nullopt;
}

// Raises the failure of settled future `f` (failed or cancelled) at `ip`:
// Caught (a catch took it) or Failed.
RunStatus Fiber::take_failure(const FutureObj& f, const uint8_t* ip) {
  if (f.state == FutureObj::State::Cancelled) return fail(ip, "cancelled", "the awaited task was cancelled");
  if (f.error_kind == "unhandled_throw") return throw_value(ip, f.value);
  return fail(ip, f.error_kind, f.error_message);
}

namespace {
// What the futures of an await answer now. `failed`: the future whose
// failure is the answer; else `value` when `answered`.
struct Answer {
  bool answered = false;
  const FutureObj* failed = nullptr;
  Value value;
  bool build_all = false; // All: the values of every future, to be gathered
};

Answer evaluate(Value target, AwaitMode mode) {
  Answer a;
  if (mode == AwaitMode::One) {
    const FutureObj* f = target.as_future();
    if (!f->settled()) return a;
    a.answered = true;
    if (f->state == FutureObj::State::Ready) a.value = f->value;
    else a.failed = f;
    return a;
  }
  const auto& items = target.as_array()->items;
  bool all_settled = true;
  const FutureObj* first_failed = nullptr;
  for (Value v : items) {
    const FutureObj* f = v.as_future();
    if (!f->settled()) {
      all_settled = false;
      continue;
    }
    bool ok = f->state == FutureObj::State::Ready;
    if (!ok && !first_failed) first_failed = f;
    if (mode == AwaitMode::Race || (mode == AwaitMode::Any && ok)) {
      a.answered = true;
      if (ok) a.value = f->value;
      else a.failed = f;
      return a;
    }
  }
  switch (mode) {
  case AwaitMode::All:
    if (first_failed) {
      a.answered = true;
      a.failed = first_failed;
    } else if (all_settled) {
      a.answered = true;
      a.build_all = true;
    }
    break;
  case AwaitMode::Any:
    if (all_settled) { // none succeeded (or no futures at all)
      a.answered = true;
      a.failed = first_failed;
    }
    break;
  case AwaitMode::AllSettled:
    if (all_settled) {
      a.answered = true;
      a.build_all = true; // (a new array of the same futures)
    }
    break;
  default: break;
  }
  return a;
}

// The futures `target` waits on are observed; once answered, the pending
// ones a combinator no longer needs are cancelled.
void after_answer(Value target, AwaitMode mode, TaskHost& host) {
  if (mode == AwaitMode::One) {
    target.as_future()->observed = true;
    return;
  }
  for (Value v : target.as_array()->items) {
    FutureObj* f = v.as_future();
    if (f->settled()) f->observed = true;
    else if (mode != AwaitMode::AllSettled) cancel_future(f, host);
  }
}
} // namespace

// all's values, or all_settled's futures, in a new array.
Value Fiber::gather(Value target, bool futures) {
  const auto& items = target.as_array()->items;
  ArrayObj* out = m_heap.new_array(items.size());
  for (Value v : items) out->items.push_back(futures ? v : v.as_future()->value);
  return Value::object(Tag::Array, out);
}

// An await at the current instruction (its `argc` arguments above m_sp):
// answered now (nullopt: the value is pushed; Caught or Failed) or
// Suspended until the runtime sees the answer (try_finish_await).
std::optional<RunStatus> Fiber::await_now(Value target, AwaitMode mode, int64_t timeout_ms, size_t argc, TaskHost& host) {
  const uint8_t* ip = m_frames[m_frame_count - 1].ip;
  if (std::optional<RunStatus> s = check_unobserved(ip, false)) return s;
  Answer a = evaluate(target, mode);
  if (!a.answered) {
    // The target goes in the request's one argument slot; an array as a
    // copy of its futures now (the script may change its own meanwhile).
    if (target.tag == Tag::Array) target = gather(target, true);
    m_stack[m_sp] = target;
    (void)argc;
    m_request_kind = Request::Kind::Await;
    m_request_arg = int64_t(mode) | ((timeout_ms + 1) << 8);
    return RunStatus::Suspended;
  }
  after_answer(target, mode, host);
  if (a.failed) return take_failure(*a.failed, ip);
  if (a.build_all) {
    a.value = gather(target, mode == AwaitMode::AllSettled);
  }
  m_stack[m_sp++] = a.value;
  return std::nullopt;
}

std::optional<RunStatus> Fiber::try_finish_await(TaskHost& host) {
  Request r = request();
  Value target = m_stack[m_sp];
  Answer a = evaluate(target, r.await_mode);
  if (!a.answered) return std::nullopt;
  if (std::optional<RunStatus> s = check_unobserved(nullptr, false)) {
    m_request_kind = Request::Kind::None;
    return s;
  }
  after_answer(target, r.await_mode, host);
  m_request_kind = Request::Kind::None;
  if (a.failed) {
    RunStatus s = take_failure(*a.failed, m_frames[m_frame_count - 1].ip);
    return s == RunStatus::Caught ? RunStatus::Yielded : s;
  }
  if (a.build_all) {
    a.value = gather(target, r.await_mode == AwaitMode::AllSettled);
  }
  resume(a.value);
  return RunStatus::Yielded;
}

// ---------------------------------------------------------------- the builtins

std::optional<RunStatus> Fiber::task_builtin(uint16_t raw_id, size_t argc, const RunContext& ctx) {
  const uint8_t* ip = m_frames[m_frame_count - 1].ip;
  Value* args = m_stack + m_sp;
  auto push = [&](Value v) -> std::optional<RunStatus> {
    m_stack[m_sp++] = v;
    return std::nullopt;
  };
  auto boolean = [&](bool b) { return push(Value::boolean(b)); };
  if (!ctx.tasks) return fail(ip, "spawn_error", "spawned tasks need the engine's runtime");
  TaskHost& host = *ctx.tasks;
  switch (BuiltinId(raw_id)) {
  case BuiltinId::TASK_SPAWN:
    if (args[1].tag != Tag::Null && args[1].tag != Tag::CancelToken)
      return type_error(ip, "'spawn with' needs a CancelToken, not a value of type ", args[1].tag);
    return push(spawn(args[0], args[1], Value::null(), args[2].tag == Tag::Bool && args[2].b, host));
  case BuiltinId::TASK_AWAIT:
    if (args[0].tag != Tag::Future) return type_error(ip, "await needs a future, not a value of type ", args[0].tag);
    return await_now(args[0], AwaitMode::One, -1, argc, host);
  case BuiltinId::FUTURE_ALL:
  case BuiltinId::FUTURE_ANY:
  case BuiltinId::FUTURE_RACE:
  case BuiltinId::FUTURE_ALL_SETTLED: {
    const char* name = kBuiltins[raw_id].name;
    if (args[0].tag != Tag::Array || !all_futures(*args[0].as_array()))
      return fail(ip, "type_error", "baml.future." + std::string(name) + " needs an array of futures");
    AwaitMode mode = BuiltinId(raw_id) == BuiltinId::FUTURE_ALL   ? AwaitMode::All
                   : BuiltinId(raw_id) == BuiltinId::FUTURE_ANY   ? AwaitMode::Any
                   : BuiltinId(raw_id) == BuiltinId::FUTURE_RACE  ? AwaitMode::Race
                                                                  : AwaitMode::AllSettled;
    if (args[0].as_array()->items.empty() && (mode == AwaitMode::Any || mode == AwaitMode::Race))
      return fail(ip, "invalid_argument", "baml.future." + std::string(name) + " needs at least one future");
    return await_now(args[0], mode, -1, argc, host);
  }
  case BuiltinId::FUTURE_WITH_TIMEOUT: {
    if (args[0].tag != Tag::Int || args[0].i < 0)
      return fail(ip, "invalid_argument", "baml.future.with_timeout needs a timeout of 0 ms or more");
    if (args[1].tag != Tag::Function || m_program.functions[args[1].as_function()->function].arity != (args[1].as_function()->bound ? 1 : 0))
      return fail(ip, "type_error", "baml.future.with_timeout needs a function of no parameters");
    int64_t ms = std::min<int64_t>(args[0].i, int64_t(1) << 40);
    Value future = spawn(args[1], Value::null(), Value::null(), false, host);
    return await_now(future, AwaitMode::One, ms, argc, host);
  }
  case BuiltinId::FUTURE_CANCEL: return boolean(cancel_future(args[0].as_future(), host));
  case BuiltinId::FUTURE_IS_SETTLED: return boolean(args[0].as_future()->settled());
  case BuiltinId::FUTURE_IS_CANCELLED: return boolean(args[0].as_future()->state == FutureObj::State::Cancelled);
  case BuiltinId::FUTURE_IS_RESULT: return boolean(args[0].as_future()->state == FutureObj::State::Ready);
  case BuiltinId::FUTURE_IS_ERROR: return boolean(args[0].as_future()->state == FutureObj::State::Failed);
  case BuiltinId::TASK_GROUP_NEW:
    if (args[0].tag != Tag::Int || args[0].i < 1)
      return fail(ip, "invalid_argument", "baml.spawn.TaskGroup.new needs a limit of 1 or more");
    return push(Value::object(Tag::TaskGroup, m_heap.new_task_group(args[0].i)));
  case BuiltinId::TASK_GROUP_SPAWN: {
    TaskGroupObj* g = args[0].as_group();
    if (args[1].tag != Tag::Function || m_program.functions[args[1].as_function()->function].arity != (args[1].as_function()->bound ? 1 : 0))
      return fail(ip, "type_error", "TaskGroup.spawn needs a function of no parameters");
    while (!g->waiters.empty() && !g->waiters.front()) { // (places left by spawners that ended)
      g->waiters.pop_front();
      g->popped++;
    }
    if (g->cancelled || (g->running < g->limit && g->waiters.empty()))
      return push(spawn(args[1], Value::null(), args[0], false, host));
    m_request_kind = Request::Kind::GroupAdmit; // the runtime lets it in when a task of the group ends
    return RunStatus::Suspended;
  }
  case BuiltinId::TASK_GROUP_CANCEL: {
    TaskGroupObj* g = args[0].as_group();
    g->cancelled = true;
    for (Value f : g->futures) cancel_future(f.as_future(), host);
    host.group_changed(g); // its waiting spawners get (cancelled) futures at once
    return push(Value::null());
  }
  case BuiltinId::TOKEN_NEW: return push(Value::object(Tag::CancelToken, m_heap.new_cancel_token()));
  case BuiltinId::TOKEN_ANY: {
    if (args[0].tag != Tag::Array) return fail(ip, "type_error", "baml.spawn.CancelToken.any needs an array of tokens");
    for (Value v : args[0].as_array()->items)
      if (v.tag != Tag::CancelToken) return fail(ip, "type_error", "baml.spawn.CancelToken.any needs an array of tokens");
    CancelTokenObj* t = m_heap.new_cancel_token();
    Value token = Value::object(Tag::CancelToken, t);
    for (Value v : args[0].as_array()->items) {
      CancelTokenObj* source = v.as_token();
      if (source->cancelled) t->cancelled = true;
      if (source->dependents.size() == source->dependents.capacity())
        m_heap.charge_object(source, (source->dependents.size() + 4) * sizeof(Value));
      source->dependents.push_back(token);
    }
    return push(token);
  }
  case BuiltinId::TOKEN_CANCEL:
    cancel_token(args[0].as_token(), host);
    return push(Value::null());
  case BuiltinId::TOKEN_IS_CANCELLED: return boolean(args[0].as_token()->cancelled);
  default: break;
  }
  return fail(ip, "internal", "unknown task builtin");
}


} // namespace brake::vm
