// tasks_test.cpp: spawned tasks and their cancellation. A call cancelled
// while it waits at any await point (await, each baml.future combinator,
// with_timeout, room in a task group) settles as cancelled at once and
// leaves no task behind; so do 1,000 tasks of a group of limit 10 cancelled
// mid-way, and a spawn tree 1,000 deep cancelled from its call. The stress
// case (cancels from another thread while trees of tasks sleep, compute and
// finish) runs under ASan and TSan in CI.
#include <string>
#include <thread>
#include <vector>

#include "test_outcome.h"

namespace {

const char* kSource = R"(
function sleeper(ms: int) -> int { baml.sys.sleep(ms); ms }
function at_await() -> int { let f = spawn { sleeper(30000) }; await f }
function at_all() -> int[] { baml.future.all([spawn { sleeper(30000) }, spawn { 1 }]) }
function at_any() -> int { baml.future.any([spawn { sleeper(30000) }, spawn { sleeper(30000) }]) }
function at_race() -> int { baml.future.race([spawn { while (true) {} 1 }, spawn { sleeper(30000) }]) }
function at_all_settled() -> int { baml.future.all_settled([spawn { sleeper(30000) }]).length() }
function at_with_timeout() -> int { baml.future.with_timeout(60000, () -> int { sleeper(30000) }) }
function at_group_admission() -> int {
  let g = baml.spawn.TaskGroup.new(1);
  let a = g.spawn(() -> int { sleeper(30000) });
  let b = g.spawn(() -> int { 2 });
  await b
}
function group_of(n: int, limit: int) -> int {
  let g = baml.spawn.TaskGroup.new(limit);
  let fs: Future<int>[] = [];
  for (let i = 0; i < n; i += 1) { fs.push(g.spawn(() -> int { sleeper(20); i })) }
  let total = 0;
  for (let v in baml.future.all(fs)) { total += v }
  total
}
function chain(depth: int) -> int {
  if (depth == 0) { return sleeper(30000) }
  await spawn { chain(depth - 1) }
}
function wide(n: int) -> int {
  let fs: Future<int>[] = [];
  for (let i = 0; i < n; i += 1) { fs.push(spawn { sleeper(30000) }) }
  baml.future.all(fs).length()
}
function hog() -> string {
  let f = spawn { let xs: string[] = []; while (true) { xs.push("0123456789abcdef0123456789abcdef") } 1 };
  (await f).to_string() catch (e) { s: string => s }
}
function deep(n: int) -> int { if (n == 0) { return 0 } deep(n - 1) + 1 }
function deep_tasks(rounds: int) -> int {
  let total = 0;
  for (let i = 0; i < rounds; i += 1) { total += await spawn { deep(500) } }
  total
}
function group_line(n: int) -> int {
  let g = baml.spawn.TaskGroup.new(1);
  let busy = g.spawn(() -> int { sleeper(30000) });
  let fs: Future<Future<int>>[] = [];
  for (let i = 0; i < n; i += 1) { fs.push(spawn { g.spawn(() -> int { i }) }) }
  baml.future.all(fs).length()
}
function mixed(seed: int) -> int {
  let fs: Future<int>[] = [];
  for (let i = 0; i < 8; i += 1) {
    let k = (seed + i) % 4;
    fs.push(spawn {
      if (k == 0) { return sleeper(1 + i) }
      if (k == 1) { let n = 0; for (let j = 0; j < 20000; j += 1) { n += j % 7 } return n }
      if (k == 2) { return await spawn { sleeper(2) } }
      let inner = spawn { sleeper(50) };
      i
    })
  }
  let total = 0;
  for (let v in baml.future.all(fs)) { total += v }
  total
}
)";

bool start(brake_engine* e, brake_call_id id, const char* fn, std::vector<int64_t> ints, Outcome* o) {
  std::vector<brake_value*> vals;
  for (int64_t x : ints) {
    vals.push_back(brake_value_int(x));
  }
  std::vector<const brake_value*> args(vals.begin(), vals.end());
  int rc = brake_call_start(e, id, fn, args.data(), args.size(), nullptr, outcome_done, o);
  for (brake_value* v : vals) brake_value_free(v);
  return rc == BRAKE_OK;
}

size_t tasks_after(brake_engine* e, double ms) {
  double until = now_ms() + ms;
  while (brake_engine_live_tasks(e) != 0 && now_ms() < until) sleep_ms(2);
  return brake_engine_live_tasks(e);
}

// Starts `fn`, waits until it has spawned and waits, cancels it, and checks
// that it settles cancelled promptly with every task gone.
void cancel_while_waiting(brake_engine* e, brake_call_id id, const char* fn, std::vector<int64_t> args, size_t min_tasks) {
  Outcome o;
  CHECK(start(e, id, fn, std::move(args), &o));
  double until = now_ms() + 2000;
  while (brake_engine_live_tasks(e) < min_tasks && now_ms() < until) sleep_ms(1);
  sleep_ms(20); // (its tasks start and block)
  CHECK(brake_engine_live_tasks(e) >= min_tasks);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, id), BRAKE_OK);
  CHECK(wait_for(o));
  double settled = now_ms() - t0;
  std::fprintf(stderr, "%s: cancel -> settled %.2f ms\n", fn, settled);
  CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
  CHECK(settled < 5000); // (generous: sanitizer builds run it too; a release build takes under 50 ms for the largest)
  CHECK_EQ_INT(int(tasks_after(e, 2000)), 0);
  CHECK_EQ_INT(int(live_after(e, 2000)), 0);
}

brake_engine* tasks_engine(unsigned workers = 1) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  return engine_with(kSource, &o);
}

} // namespace

BRAKE_TEST(cancel_at_every_await_point) {
  brake_engine* e = tasks_engine();
  cancel_while_waiting(e, 1, "at_await", {}, 1);
  cancel_while_waiting(e, 2, "at_all", {}, 1);
  cancel_while_waiting(e, 3, "at_any", {}, 2);
  cancel_while_waiting(e, 4, "at_race", {}, 2); // one of them spins in while (true)
  cancel_while_waiting(e, 5, "at_all_settled", {}, 1);
  cancel_while_waiting(e, 6, "at_with_timeout", {}, 1);
  cancel_while_waiting(e, 7, "at_group_admission", {}, 1);
  brake_engine_free(e);
}

BRAKE_TEST(a_group_of_1000_with_limit_10_runs_all_and_cancels_mid_way) {
  brake_engine* e = tasks_engine();
  Outcome done;
  CHECK(start(e, 1, "group_of", {100, 10}, &done));
  CHECK(wait_for(done));
  CHECK(done.value == "4950");
  Outcome o;
  CHECK(start(e, 2, "group_of", {1000, 10}, &o));
  sleep_ms(100); // about 50 of them have run
  CHECK(brake_engine_live_tasks(e) <= 10);
  CHECK_EQ_INT(brake_cancel(e, 2), BRAKE_OK);
  CHECK(wait_for(o));
  CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
  CHECK_EQ_INT(int(tasks_after(e, 2000)), 0);
  brake_engine_free(e);
}

BRAKE_TEST(a_spawn_tree_1000_deep_is_cancelled_from_its_call) {
  brake_engine* e = tasks_engine();
  cancel_while_waiting(e, 1, "chain", {1000}, 1000);
  brake_engine_free(e);
}

BRAKE_TEST(ten_thousand_sleeping_children_cancelled_with_their_call) {
  brake_engine* e = tasks_engine();
  cancel_while_waiting(e, 1, "wide", {10000}, 10000);
  brake_engine_free(e);
}

BRAKE_TEST(twenty_thousand_spawners_waiting_in_a_group_line_cancelled) {
  // Each leaves the line in O(1): a cancel does not walk the line per task.
  brake_engine* e = tasks_engine();
  cancel_while_waiting(e, 1, "group_line", {20000}, 20000);
  brake_engine_free(e);
}

BRAKE_TEST(memory_limits_count_tasks_and_give_their_memory_back) {
  brake_engine_options opts;
  brake_engine_options_init(&opts);
  opts.worker_threads = 1;
  opts.call_memory_limit = 8u << 20;
  brake_engine* e = engine_with(kSource, &opts);
  // A task that runs out of memory fails; its awaiter (woken at once, not at
  // the worker's next event) catches it.
  Outcome hog;
  CHECK(start(e, 1, "hog", {}, &hog));
  CHECK(wait_for(hog));
  CHECK(hog.value.find("out_of_memory") != std::string::npos);
  // What a task's stack grew by is given back when it ends: 2,000 tasks
  // recursing 500 deep one after another stay within 8 MiB.
  Outcome deep;
  CHECK(start(e, 2, "deep_tasks", {2000}, &deep));
  CHECK(wait_for(deep));
  CHECK_EQ_INT(deep.status, BRAKE_OK);
  CHECK(deep.value == "1000000");
  CHECK_EQ_INT(int(tasks_after(e, 2000)), 0);
  brake_engine_free(e);
}

BRAKE_TEST(stress_trees_of_tasks_with_cancels_from_another_thread) {
  brake_engine* e = tasks_engine(2);
  constexpr int kCalls = 200;
  std::vector<Outcome> outcomes(kCalls);
  for (int i = 0; i < kCalls; i++) CHECK(start(e, brake_call_id(100 + i), "mixed", {i}, &outcomes[size_t(i)]));
  std::thread canceller([&] {
    for (int i = 0; i < kCalls; i += 2) {
      brake_cancel(e, brake_call_id(100 + i));
      if (i % 10 == 0) sleep_ms(1);
    }
  });
  canceller.join();
  for (int i = 0; i < kCalls; i++) {
    Outcome& o = outcomes[size_t(i)];
    CHECK(wait_for(o));
    std::lock_guard<std::mutex> lock(o.mu);
    CHECK_EQ_INT(o.completions, 1);
    CHECK(o.status == BRAKE_OK || o.status == BRAKE_CANCELLED);
  }
  CHECK_EQ_INT(int(tasks_after(e, 3000)), 0);
  CHECK_EQ_INT(int(live_after(e, 2000)), 0);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(cancel_at_every_await_point),
      TEST_ENTRY(a_group_of_1000_with_limit_10_runs_all_and_cancels_mid_way),
      TEST_ENTRY(a_spawn_tree_1000_deep_is_cancelled_from_its_call),
      TEST_ENTRY(ten_thousand_sleeping_children_cancelled_with_their_call),
      TEST_ENTRY(twenty_thousand_spawners_waiting_in_a_group_line_cancelled),
      TEST_ENTRY(memory_limits_count_tasks_and_give_their_memory_back),
      TEST_ENTRY(stress_trees_of_tasks_with_cancels_from_another_thread),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
