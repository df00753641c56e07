// runtime_unit_test.cpp: C++ unit tests of runtime and VM internals that the
// C ABI cannot reach directly: the timer heap, the call table under
// concurrent use, and the per-call heap's collector.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "runtime/call_table.h"
#include "runtime/timer_heap.h"
#include "test_util.h"
#include "vm/value.h"

using namespace brake;
using Clock = std::chrono::steady_clock;

// Allocation failure on demand, for this test binary only: when t_fail_in
// is n > 0, the n-th operator new from now on (on this thread) throws.
static thread_local long t_fail_in = 0;
void* operator new(std::size_t n) {
  if (t_fail_in > 0 && --t_fail_in == 0) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

BRAKE_TEST(timer_heap_orders_and_removes) {
  std::vector<runtime::Call*> calls;
  runtime::TimerHeap heap;
  std::mt19937 rng(7);
  auto base = Clock::now();
  for (int i = 0; i < 500; i++) {
    auto* c = runtime::Call::create(0);
    calls.push_back(c);
    heap.add(base + std::chrono::milliseconds(rng() % 1000), c, runtime::TimerKind::Sleep);
  }
  // Remove a third at random positions (as cancels do).
  for (int i = 0; i < 500; i += 3) heap.remove(calls[size_t(i)]->sleep_timer);
  for (int i = 0; i < 500; i += 3) CHECK(calls[size_t(i)]->sleep_timer == runtime::kNoTimer);
  CHECK_EQ_INT(heap.size(), 500 - 167);
  // Tombstones never outnumber live timers.
  CHECK(heap.stored() - heap.size() <= heap.size());
  auto last = Clock::time_point::min();
  size_t popped = 0;
  while (!heap.empty()) {
    auto e = heap.pop();
    CHECK(e.when >= last);
    CHECK(e.call->sleep_timer == runtime::kNoTimer);
    last = e.when;
    popped++;
  }
  CHECK_EQ_INT(popped, 500 - 167);
  CHECK_EQ_INT(heap.stored(), 0);
  for (auto* c : calls) c->release();
}

// A mass cancel (every timer removed, in an order unrelated to the heap's)
// leaves no entry behind, and the next timer still comes out on time and in
// order; equal deadlines come out first-in first-out.
BRAKE_TEST(timer_heap_mass_remove_compacts) {
  constexpr int kCalls = 100000;
  std::vector<runtime::Call*> calls;
  runtime::TimerHeap heap;
  std::mt19937 rng(11);
  auto base = Clock::now();
  for (int i = 0; i < kCalls; i++) {
    auto* c = runtime::Call::create(0);
    calls.push_back(c);
    heap.add(base + std::chrono::milliseconds(600000 + rng() % 1000), c, runtime::TimerKind::Sleep);
    if (i % 4 == 0) heap.add(base + std::chrono::milliseconds(900000), c, runtime::TimerKind::Deadline);
  }
  std::vector<runtime::Call*> order = calls;
  std::shuffle(order.begin(), order.end(), rng);
  size_t max_stored = 0;
  for (size_t i = 0; i < order.size(); i++) {
    runtime::Call* c = order[i];
    heap.remove(c->sleep_timer);
    if (c->deadline_timer != runtime::kNoTimer) heap.remove(c->deadline_timer);
    // Tombstones never outnumber live timers.
    CHECK(heap.stored() - heap.size() <= heap.size());
    if (i == order.size() / 2) max_stored = heap.stored();
  }
  CHECK(max_stored <= size_t(kCalls));
  CHECK_EQ_INT(heap.size(), 0);
  CHECK_EQ_INT(heap.stored(), 0);
  // Reused afterwards: deadlines in order, ties in insertion order.
  auto soon = Clock::now() + std::chrono::milliseconds(5);
  heap.add(soon + std::chrono::milliseconds(1), calls[0], runtime::TimerKind::Sleep);
  heap.add(soon, calls[1], runtime::TimerKind::Sleep);
  heap.add(soon, calls[2], runtime::TimerKind::Sleep);
  CHECK(heap.next_when() == soon);
  CHECK(heap.pop().call == calls[1]);
  CHECK(heap.pop().call == calls[2]);
  CHECK(heap.pop().call == calls[0]);
  CHECK(heap.empty());
  for (auto* c : calls) c->release();
}

// A worker turns a failed add() into an out_of_memory error for that one
// call; that is only sound if the failed add() changed nothing, and if
// removing and firing timers never allocate (they cannot fail).
BRAKE_TEST(timer_heap_add_is_all_or_nothing) {
  runtime::TimerHeap heap;
  std::vector<runtime::Call*> added;
  std::vector<runtime::Call*> all;
  auto base = Clock::now();
  size_t failures = 0;
  for (int i = 0; i < 400; i++) {
    auto* c = runtime::Call::create(0);
    all.push_back(c);
    auto when = base + std::chrono::milliseconds((i * 37) % 1000);
    // Fail the 1st, 2nd or 3rd allocation add() makes (when it makes that many).
    t_fail_in = 1 + i % 3;
    bool failed = false;
    try {
      heap.add(when, c, runtime::TimerKind::Sleep);
    } catch (const std::bad_alloc&) {
      failed = true;
    }
    t_fail_in = 0;
    if (failed) {
      failures++;
      CHECK_EQ_INT(heap.size(), added.size());
      CHECK(c->sleep_timer == runtime::kNoTimer);
      heap.add(when, c, runtime::TimerKind::Sleep); // the retry works
    }
    added.push_back(c);
    CHECK_EQ_INT(heap.size(), added.size());
    // Removing (tombstones, compaction) never allocates.
    if (i % 5 == 4) {
      runtime::Call* gone = added[added.size() / 2];
      t_fail_in = 1;
      heap.remove(gone->sleep_timer);
      CHECK(t_fail_in == 1);
      t_fail_in = 0;
      added.erase(added.begin() + long(added.size() / 2));
    }
  }
  CHECK(failures >= 5); // the vectors grew (and failed to) many times
  // Firing never allocates either; every timer comes out once, in order.
  size_t popped = 0;
  auto last = Clock::time_point::min();
  t_fail_in = 1;
  while (!heap.empty()) {
    auto e = heap.pop();
    CHECK(e.when >= last);
    CHECK(std::find(added.begin(), added.end(), e.call) != added.end());
    last = e.when;
    popped++;
  }
  CHECK(t_fail_in == 1);
  t_fail_in = 0;
  CHECK_EQ_INT(popped, added.size());
  for (auto* c : all) c->release();
}

BRAKE_TEST(call_table_concurrent_insert_find_remove) {
  runtime::CallTable table;
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> duplicates{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        auto* c = runtime::Call::create(0);
        // Threads share half their ids, so inserts collide.
        c->id = brake_call_id(1 + (i % 2 ? i : t * kPerThread + i));
        if (!table.insert(c)) {
          duplicates++;
          c->release();
          continue;
        }
        runtime::Call* found = table.find(c->id);
        CHECK(found == c);
        if (found) found->release();
        table.remove(c);
        c->release();
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_EQ_INT(table.size(), 0);
  CHECK(table.find(1) == nullptr);
}

BRAKE_TEST(heap_collects_garbage_and_cycles) {
  vm::Heap heap;
  std::vector<vm::Value> roots;
  vm::ArrayObj* keep = heap.new_array();
  roots.push_back(vm::Value::object(vm::Tag::Array, keep));
  keep->items.push_back(heap.string_value("kept"));
  // A cycle reachable from nothing.
  vm::ArrayObj* a = heap.new_array();
  vm::ArrayObj* b = heap.new_array();
  a->items.push_back(vm::Value::object(vm::Tag::Array, b));
  b->items.push_back(vm::Value::object(vm::Tag::Array, a));
  for (int i = 0; i < 1000; i++) heap.new_string("garbage");
  CHECK_EQ_INT(heap.object_count(), 1004);
  heap.collect(roots.data(), roots.size());
  CHECK_EQ_INT(heap.object_count(), 2);
  CHECK(keep->items[0].as_string()->text == "kept");
}

BRAKE_TEST(values_equal_is_deep) {
  vm::Heap heap;
  vm::MapObj* m1 = heap.new_map();
  vm::MapObj* m2 = heap.new_map();
  heap.map_set(m1, "a", vm::Value::integer(1));
  heap.map_set(m1, "b", heap.string_value("x"));
  heap.map_set(m2, "b", heap.string_value("x"));
  heap.map_set(m2, "a", vm::Value::integer(1));
  CHECK(vm::values_equal(vm::Value::object(vm::Tag::Map, m1), vm::Value::object(vm::Tag::Map, m2)));
  CHECK(!vm::values_equal(vm::Value::integer(1), vm::Value::number(1.0)));
  heap.map_set(m2, "a", vm::Value::integer(2));
  CHECK(!vm::values_equal(vm::Value::object(vm::Tag::Map, m1), vm::Value::object(vm::Tag::Map, m2)));
}

// Every allocation is charged before it is made; an allocation past the
// call's limit throws and is not made; collection and destruction give the
// bytes (and the engine's chunks) back.
BRAKE_TEST(heap_charges_allocations_against_the_call_limit) {
  vm::MemoryPool pool(1 << 20, 0);
  {
    vm::Heap heap(&pool);
    std::vector<vm::Value> roots;
    std::string piece(1000, 'x');
    bool threw = false;
    size_t made = 0;
    try {
      for (;;) {
        roots.push_back(heap.string_value(piece));
        made++;
      }
    } catch (const vm::MemoryLimitExceeded& e) {
      threw = true;
      CHECK(e.which() == vm::MemoryLimitExceeded::Which::Call);
      CHECK(std::string(e.what()).find("the call's memory limit (1048576 bytes)") != std::string::npos);
    }
    CHECK(threw);
    CHECK(heap.used() <= size_t(1) << 20);
    CHECK(made > 900 && made < 1048);
    CHECK_EQ_INT(heap.object_count(), made);
    CHECK_EQ_INT(pool.in_use(), vm::MemoryPool::reserved(heap.used()));
    // Keep one; the rest is garbage.
    heap.collect(roots.data(), 1);
    CHECK_EQ_INT(heap.used(), vm::Heap::string_bytes(1000) + 15 & ~size_t(15));
    CHECK_EQ_INT(pool.in_use(), 2048); // 1,072 bytes charged: two 1 KiB steps
    // Arrays charge their growth; maps their entries.
    vm::ArrayObj* a = heap.new_array();
    size_t before = heap.used();
    for (int i = 0; i < 1000; i++) heap.array_push(a, vm::Value::integer(i));
    CHECK(heap.used() - before >= 1000 * sizeof(vm::Value));
    vm::MapObj* m = heap.new_map();
    before = heap.used();
    heap.map_set(m, "key", vm::Value::integer(1));
    heap.map_set(m, "key", vm::Value::integer(2)); // replacing costs nothing
    CHECK(heap.used() - before >= 100 && heap.used() - before < 256);
  }
  CHECK_EQ_INT(pool.in_use(), 0);
}

// The engine's total is shared: one call's steps count against another's
// room, and come back when it ends. A call that allocates a little holds a
// little (1 KiB steps at first), so many small calls fit.
BRAKE_TEST(heap_charges_against_the_engine_limit) {
  constexpr size_t kMiB = 1 << 20;
  vm::MemoryPool pool(0, 4 * kMiB);
  vm::Heap first(&pool);
  first.charge(3 * kMiB);
  CHECK_EQ_INT(pool.in_use(), 3 * kMiB);
  {
    vm::Heap second(&pool);
    second.charge(1000);
    CHECK_EQ_INT(pool.in_use(), 3 * kMiB + 1024);
    bool threw = false;
    try {
      second.charge(kMiB);
    } catch (const vm::MemoryLimitExceeded& e) {
      threw = true;
      CHECK(e.which() == vm::MemoryLimitExceeded::Which::Engine);
    }
    CHECK(threw);
    CHECK_EQ_INT(second.used(), 1000);
    CHECK_EQ_INT(pool.in_use(), 3 * kMiB + 1024);
  }
  CHECK_EQ_INT(pool.in_use(), 3 * kMiB);
  first.uncharge(2 * kMiB);
  CHECK_EQ_INT(pool.in_use(), kMiB);
  // 1,000 calls that each hold a few hundred bytes fit in 1 MiB.
  std::vector<std::unique_ptr<vm::Heap>> small;
  for (int i = 0; i < 1000; i++) {
    small.push_back(std::make_unique<vm::Heap>(&pool));
    small.back()->charge(300);
  }
  CHECK_EQ_INT(pool.in_use(), kMiB + 1000 * 1024);
  small.clear();
  CHECK_EQ_INT(pool.in_use(), kMiB);
  // The steps: monotonic, and the documented sizes.
  size_t last = 0;
  for (size_t used = 0; used < (70u << 20); used += 4093) {
    size_t r = vm::MemoryPool::reserved(used);
    CHECK(r >= used && r >= last);
    last = r;
  }
  CHECK_EQ_INT(vm::MemoryPool::reserved(1), 1024);
  CHECK_EQ_INT(vm::MemoryPool::reserved((16 << 10) + 1), 32 << 10);
  CHECK_EQ_INT(vm::MemoryPool::reserved((1 << 20) + 1), (1 << 20) + (256 << 10));
}

// Under a small call limit, the first collection comes before the limit:
// a call that only makes garbage never fails.
BRAKE_TEST(garbage_under_a_small_limit_is_collected_in_time) {
  vm::MemoryPool pool(64 << 10, 0);
  vm::Heap heap(&pool);
  std::vector<vm::Value> roots(1);
  for (int i = 0; i < 10000; i++) {
    roots[0] = heap.string_value(std::string(100, 'g'));
    if (heap.wants_collect()) heap.collect(roots.data(), roots.size());
  }
  CHECK(heap.used() < (64 << 10));
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(timer_heap_orders_and_removes),
      TEST_ENTRY(timer_heap_mass_remove_compacts),
      TEST_ENTRY(timer_heap_add_is_all_or_nothing),
      TEST_ENTRY(call_table_concurrent_insert_find_remove),
      TEST_ENTRY(heap_collects_garbage_and_cycles),
      TEST_ENTRY(values_equal_is_deep),
      TEST_ENTRY(heap_charges_allocations_against_the_call_limit),
      TEST_ENTRY(heap_charges_against_the_engine_limit),
      TEST_ENTRY(garbage_under_a_small_limit_is_collected_in_time),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
