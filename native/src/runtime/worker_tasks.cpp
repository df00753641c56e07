// worker_tasks.cpp: spawned tasks (spawn, await, the baml.future
// combinators, task groups, cancel tokens) on a worker.
//
// A task is a Call of its own (phase, timers, operation slot, state word),
// with no id in the call table and no completion of its own, on its call's
// worker: every task of a call shares the call's heap, so values pass between
// them as they are, and everything about them is this thread's. Children run
// on their parent's worker (not spread over the workers): cancelling a
// parent walks its tree here with no message to another thread, and the
// sleeps, HTTP transfers, LLM calls and host calls of different tasks
// overlap all the same; CPU-bound tasks of one call share one core.
//
// Invariants:
//  - A task lives no longer than its parent: a task that ends (value,
//    failure or cancel) first ends every task it spawned that is still
//    running (end_children), and the call's heap goes only after all of them.
//  - Cancellation goes down, never up: a task cancelled (its future's
//    cancel(), a token, a task group, a combinator that has its answer, a
//    timeout, or its parent ending) takes its own tasks with it, and its
//    parent sees a catchable "cancelled" at its await.
//  - Nothing runs script code or wakes another task while a tree is being
//    torn down: wake-ups and cancels asked meanwhile are queued (m_wakes,
//    m_pending_cancels) and handled by settle_tasks at the next safe point.
//  - A task ended while in a ready queue stays allocated (m_dead_tasks) until
//    purge_dead_tasks has taken it out of the queues.
#include "runtime/engine.h"
#include "runtime/worker.h"

#include <algorithm>

namespace brake::runtime {

using Clock = std::chrono::steady_clock;

namespace {
void retain_into(std::vector<Call*>& list, Call* call) {
  list.push_back(call);
  call->retain();
}
} // namespace

// TaskHost::start: a task for `future`, spawned by the task running now (or
// being let into a group), queued to run.
void Worker::start(vm::FutureObj* future, vm::Value fnv) {
  Call* parent = m_spawner;
  Call* root = parent->is_task() ? parent->links()->root : parent;
  const vm::CompiledProgram& program = m_engine.program();
  const vm::FunctionObj& fn = *fnv.as_function();
  size_t storage = vm::Fiber::inline_bytes(program, fn.function);
  size_t bytes = sizeof(Call) + storage + sizeof(TaskLinks);
  vm::Heap& heap = root->fiber.heap();
  heap.charge(bytes); // the task's own memory counts against the call's limit
  Call* task = nullptr;
  std::unique_ptr<TaskLinks> links;
  try {
    if (!parent->links()) parent->fiber.set_task_links(std::make_unique<TaskLinks>());
    auto& children = parent->links()->children;
    if (children.size() == children.capacity()) children.reserve(std::max<size_t>(8, 2 * children.capacity())); // (doubling: push_back below cannot throw)
    links = std::make_unique<TaskLinks>();
    task = Call::create(storage);
    m_fresh.push_back(task);
  } catch (...) {
    if (task) task->release();
    heap.uncharge(bytes);
    throw;
  }
  try {
    new (&task->fiber) vm::Fiber(program, fn.function, m_engine.max_call_depth(), task->storage(), root->fiber, future);
  } catch (...) {
    m_fresh.pop_back();
    task->release();
    heap.uncharge(bytes);
    throw;
  }
  task->has_fiber = true;
  task->task = true;
  task->fiber.set_task_links(std::move(links)); // (its Tasks exist: cannot throw)
  task->fiber.begin_task(fn);
  task->id = root->id; // what host operations of the task report
  task->worker = this;
  task->function = fn.function;
  TaskLinks& mine = *task->links();
  mine.parent = parent;
  mine.root = root;
  mine.charged = bytes;
  mine.index = parent->links()->children.size();
  parent->links()->children.push_back(task); // (reserved: cannot throw)
  task->phase = Phase::Ready;
  future->task = task;
  m_live_tasks.fetch_add(1, std::memory_order_relaxed);
}

// TaskHost::cancel: asked by script code, in the middle of an instruction;
// the task is torn down by settle_tasks, once the running task gives the
// worker back.
void Worker::cancel(vm::FutureObj* future) {
  Call* task = static_cast<Call*>(future->task);
  task->request_cancel(BRAKE_ORIGIN_PARENT);
  retain_into(m_pending_cancels, task);
  m_dispatch.interrupt(); // the running task yields soon, so the cancel is not held up by its computing
}

// An Await request: registered with every pending task it waits on, with
// its timeout (with_timeout) as the call's sleep timer.
void Worker::start_await(Call* call, const vm::Request& r) {
  vm::Value target = call->fiber.request_args()[0];
  try {
    auto wait_on = [&](vm::Value v) {
      vm::FutureObj* f = v.as_future();
      if (!f->settled() && f->task) retain_into(static_cast<Call*>(f->task)->links()->waiters, call);
    };
    if (target.tag == vm::Tag::Future) wait_on(target);
    else
      for (vm::Value v : target.as_array()->items) wait_on(v);
    if (r.sleep_ms >= 0) m_timers.add(Clock::now() + clamp_wait(uint64_t(r.sleep_ms)), call, TimerKind::Sleep);
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory awaiting a task");
    return;
  }
  call->phase = Phase::Awaiting;
}

// with_timeout's time is up: its task is cancelled and the await fails
// with a catchable `timeout`.
void Worker::await_timed_out(Call* call) {
  vm::Value target = call->fiber.request_args()[0];
  vm::FutureObj* f = target.as_future();
  if (f->settled()) { // in the same turn as the timer: its outcome, not a timeout
    retry_await(call);
    return;
  }
  f->state = vm::FutureObj::State::Cancelled;
  f->observed = true;
  cancel(f);
  forget_waits(call);
  raise_where_waiting(call, vm::ScriptError{"timeout", "baml.future.with_timeout: the task did not finish in time", {}, ""});
}

// A task `call` awaits settled: it goes on if that answers it.
void Worker::retry_await(Call* call) {
  if (call->phase != Phase::Awaiting || call->cancel_origin() || call->fiber.request().kind != vm::Request::Kind::Await)
    return;
  std::optional<vm::RunStatus> status;
  vm::Value target = call->fiber.request_args()[0]; // (the request's slot is reused once answered)
  try {
    status = call->fiber.try_finish_await(*this);
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", std::string("taking a task's outcome: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory taking a task's outcome");
    return;
  }
  if (!status) return; // still waiting
  forget_waits(call, target);
  if (call->sleep_timer != kNoTimer) {
    m_timers.remove(call->sleep_timer);
    call->sleep_timer = kNoTimer;
  }
  call->phase = Phase::Ready;
  if (*status == vm::RunStatus::Failed) {
    finish_error(call);
    return;
  }
  m_fresh.push_back(call);
}

// Ends every task `call` spawned that still runs (and theirs), deepest
// first, as cancelled by their parent. Nothing is woken meanwhile.
void Worker::end_children(Call* call) {
  TaskLinks* links = call->links();
  if (!links || links->children.empty()) return;
  std::vector<Call*> order, stack(links->children.begin(), links->children.end());
  while (!stack.empty()) {
    Call* c = stack.back();
    stack.pop_back();
    order.push_back(c);
    c->request_cancel(BRAKE_ORIGIN_PARENT);
    if (TaskLinks* l = c->links()) stack.insert(stack.end(), l->children.begin(), l->children.end());
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    if ((*it)->phase != Phase::Done) settle_task(*it, vm::FutureObj::State::Cancelled, nullptr, vm::Value::null());
}

// Settles task `task`'s future with its outcome and ends the task.
void Worker::settle_task(Call* task, vm::FutureObj::State state, const vm::ScriptError* error, vm::Value value) {
  vm::FutureObj* f = task->fiber.task_future();
  if (!f->settled()) {
    f->state = state;
    f->value = value;
    if (error) {
      try {
        f->error_kind = error->kind;
        f->error_message = error->message;
      } catch (const std::bad_alloc&) {
        f->error_kind = "out_of_memory";
      }
    }
  }
  end_task(task);
}

void Worker::end_task(Call* task) {
  end_children(task);
  leave_group_queue(task);
  forget_waits(task);
  if (task->operation != kNoOperation) drop_operation(task, true);
  if (!m_llm_runs.empty()) forget_llm_run(task);
  if (task->sleep_timer != kNoTimer) {
    m_timers.remove(task->sleep_timer);
    task->sleep_timer = kNoTimer;
  }
  TaskLinks& links = *task->links(); // (the fiber's: it goes last)
  // Room for what its end hands on, before anything changes (bad_alloc
  // leaves the task as it was).
  reserve_more(m_wakes, links.waiters.size());
  reserve_more(m_dead_tasks, 1);
  bool queued = task->phase == Phase::Ready;
  task->phase = Phase::Done;
  vm::FutureObj* f = task->fiber.task_future();
  f->task = nullptr;
  // Out of its parent's list first: whatever its end sets off never sees it.
  auto& siblings = links.parent->links()->children;
  Call* last = siblings.back();
  siblings[links.index] = last;
  last->links()->index = links.index;
  siblings.pop_back();
  // A group it ran in has room for a spawner waiting (settle_tasks).
  if (f->group.tag == vm::Tag::TaskGroup) {
    f->group.as_group()->running--;
    group_has_room(f->group.as_group(), links.root);
  }
  // Whoever awaits it looks again (settle_tasks); a failure nothing awaits
  // is its parent's to report.
  bool awaited = !links.waiters.empty();
  for (Call* w : links.waiters) m_wakes.push_back(w); // (references move)
  links.waiters.clear();
  if (f->state == vm::FutureObj::State::Failed && !f->observed && !awaited && links.parent->has_fiber) {
    try {
      links.parent->fiber.add_unobserved(f);
    } catch (const std::bad_alloc&) {
    }
  }
  vm::Heap& heap = links.root->fiber.heap();
  size_t charged = links.charged;
  task->fiber.~Fiber(); // (its links with it)
  task->has_fiber = false;
  heap.uncharge(charged);
  m_live_tasks.fetch_sub(1, std::memory_order_relaxed);
  if (queued) m_dead_tasks.push_back(task); // (the parent's reference moves here)
  else task->release();
}

// TaskHost::group_changed (script code on `m_spawner`'s call), and a group
// task's end: the group's waiting spawners are let in by settle_tasks.
void Worker::group_changed(vm::TaskGroupObj* group) {
  group_has_room(group, m_spawner->is_task() ? m_spawner->links()->root : m_spawner);
}

void Worker::group_has_room(vm::TaskGroupObj* group, Call* root) {
  if (group->waiters.empty()) return;
  try {
    m_groups.emplace_back(group, root);
  } catch (const std::bad_alloc&) {
    // (not let in at once: this may be the middle of a task's end; the
    // waiters get in when the group's next task ends)
  }
}

// Lets `group`'s waiting spawners in, first come first served, while it has
// room (all of them once it was cancelled: they get cancelled futures).
// `root` is the call whose heap holds the group: if letting one in ends it
// (out of memory), the group is gone and so is its line.
void Worker::admit_waiters(vm::TaskGroupObj* group, Call* root) {
  while (!group->waiters.empty() && (group->cancelled || group->running < group->limit)) {
    Call* next = static_cast<Call*>(group->waiters.front());
    group->waiters.pop_front();
    group->popped++;
    if (!next) continue; // (one that left the line)
    if (next->phase == Phase::Awaiting && !next->cancel_origin()) let_in(next);
    next->release();
    if (!root->has_fiber) return;
  }
}

// Spawns `call`'s task into the group it waits on, and queues it to go on.
void Worker::let_in(Call* call) {
  try {
    m_fresh.push_back(call); // (first: nothing is admitted if it cannot be queued)
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory spawning into a task group");
    return;
  }
  Call* spawner = m_spawner;
  m_spawner = call;
  try {
    call->fiber.admit_to_group(*this);
  } catch (const std::exception& e) { // (nothing spawned: MemoryLimitExceeded, bad_alloc)
    m_spawner = spawner;
    m_fresh.pop_back();
    bool oom = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
    fail_call(call, "out_of_memory", std::string("spawning into a task group: ") + (oom ? "out of memory" : e.what()));
    return;
  }
  m_spawner = spawner;
  call->phase = Phase::Ready;
}

// A call waiting for room in a task group that ends leaves the group's
// line (its place is left empty: O(1), however long the line).
void Worker::leave_group_queue(Call* call) {
  if (!call->has_fiber || call->phase != Phase::Awaiting || call->fiber.request().kind != vm::Request::Kind::GroupAdmit) return;
  vm::TaskGroupObj* g = call->fiber.request_args()[0].as_group();
  uint64_t at = call->fiber.group_ticket() - g->popped;
  if (at >= g->waiters.size() || g->waiters[at] != call) return;
  g->waiters[at] = nullptr;
  call->release();
}

// A call whose await ends (answered, timed out, cancelled, failed) leaves
// the waiters of the tasks it still waited on.
void Worker::forget_waits(Call* call) {
  if (!call->has_fiber || call->phase != Phase::Awaiting || call->fiber.request().kind != vm::Request::Kind::Await) return;
  forget_waits(call, call->fiber.request_args()[0]);
}

void Worker::forget_waits(Call* call, vm::Value target) {
  auto forget = [&](vm::Value v) {
    vm::FutureObj* f = v.as_future();
    if (!f->task) return; // (ended: its waiters are gone already)
    auto& waiters = static_cast<Call*>(f->task)->links()->waiters;
    auto it = std::find(waiters.begin(), waiters.end(), call);
    if (it == waiters.end()) return;
    *it = waiters.back();
    waiters.pop_back();
    call->release(); // (the call itself is still referenced by whoever finishes it)
  };
  if (target.tag == vm::Tag::Future) forget(target);
  else
    for (vm::Value v : target.as_array()->items) forget(v);
}

// The safe point: cancels scripts asked for, spawners let into groups with
// room, then the calls to look at again, until none is left.
void Worker::settle_tasks() {
  while (!m_pending_cancels.empty() || !m_wakes.empty() || !m_groups.empty()) {
    std::vector<Call*> cancels;
    cancels.swap(m_pending_cancels);
    for (Call* task : cancels) {
      if (task->phase != Phase::Done) settle_task(task, vm::FutureObj::State::Cancelled, nullptr, vm::Value::null());
      task->release();
    }
    while (!m_groups.empty()) { // (one at a time: a call that ends meanwhile takes its groups off the list)
      auto [g, root] = m_groups.back();
      m_groups.pop_back();
      admit_waiters(g, root);
    }
    std::vector<Call*> wakes;
    wakes.swap(m_wakes);
    for (size_t i = 0; i < wakes.size(); i++) {
      retry_await(wakes[i]);
      wakes[i]->release();
    }
  }
}

// Ended tasks leave the ready queues, then go.
void Worker::purge_dead_tasks() {
  if (m_dead_tasks.empty()) return;
  for (std::deque<Call*>* queue : {&m_fresh, &m_ready})
    queue->erase(std::remove_if(queue->begin(), queue->end(), [](Call* c) { return c->phase == Phase::Done && c->is_task(); }),
                 queue->end());
  for (Call* task : m_dead_tasks) task->release();
  m_dead_tasks.clear();
}

// A task's (or a call's) script returned: its tasks still running are
// cancelled, and a failure of one that nothing awaited fails it. True when
// it failed so (finish_error has run).
bool Worker::finish_task_run(Call* call) {
  if (!call->links()) return false;
  end_children(call);
  if (!call->fiber.fail_unobserved()) return false;
  finish_error(call);
  return true;
}

} // namespace brake::runtime
