// value.h: the VM's values and the per-call heap.
//
// A Value is 16 bytes and trivially copyable: a tag plus a payload. Scalars
// (null, bool, int, float, enum variant) live inline; strings, arrays, maps
// and instances are heap objects.
//
// Memory: each call owns one Heap (a call lives on one worker thread, so the
// heap needs no locks). Objects are collected by mark-and-sweep from the
// call's VM stack, which also reclaims cycles. Collection runs only at
// safepoints chosen by the interpreter, after an allocating instruction has
// put its result on the stack, so no C++ code ever holds an unrooted object
// across a collection. String constants of a compiled program are "static":
// shared read-only by every call on every thread, never marked or freed by a
// call's heap.
#pragma once

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace brake::vm {

enum class Tag : uint8_t {
  Null,
  Bool,
  Int,
  Float,
  Enum, // payload: enum id (high 32 bits) and variant index (low 32 bits)
  // heap objects from here on
  String,
  Array,
  Map,
  Instance,
  Function, // a function value: a function, a lambda with its captures, or a method bound to its receiver
  Cell,     // a variable a lambda captured: its local slot holds the cell, shared with the closure (never a script's value)
  Future,      // a spawned task's outcome (spawn, TaskGroup.spawn, with_timeout)
  TaskGroup,   // baml.spawn.TaskGroup: a concurrency limit with FIFO admission
  CancelToken, // baml.spawn.CancelToken: cancels the tasks spawned with it
};

struct Object;
struct StringObj;
struct ArrayObj;
struct MapObj;
struct InstanceObj;
struct FunctionObj;
struct CellObj;
struct FutureObj;
struct TaskGroupObj;
struct CancelTokenObj;

struct Value {
  Tag tag = Tag::Null;
  union {
    bool b;
    int64_t i;
    double f;
    uint64_t e;
    Object* obj;
  };

  Value() : i(0) {}
  static Value null() { return Value(); }
  static Value boolean(bool v) { Value r; r.tag = Tag::Bool; r.i = 0; r.b = v; return r; }
  static Value integer(int64_t v) { Value r; r.tag = Tag::Int; r.i = v; return r; }
  static Value number(double v) { Value r; r.tag = Tag::Float; r.f = v; return r; }
  static Value enum_variant(uint32_t enum_id, uint32_t variant) {
    Value r; r.tag = Tag::Enum; r.e = (uint64_t(enum_id) << 32) | variant; return r;
  }
  static Value object(Tag t, Object* o) { Value r; r.tag = t; r.obj = o; return r; }

  bool is_object() const { return tag >= Tag::String; }
  uint32_t enum_id() const { return uint32_t(e >> 32); }
  uint32_t variant() const { return uint32_t(e); }
  StringObj* as_string() const { return reinterpret_cast<StringObj*>(obj); }
  ArrayObj* as_array() const { return reinterpret_cast<ArrayObj*>(obj); }
  MapObj* as_map() const { return reinterpret_cast<MapObj*>(obj); }
  InstanceObj* as_instance() const { return reinterpret_cast<InstanceObj*>(obj); }
  FunctionObj* as_function() const { return reinterpret_cast<FunctionObj*>(obj); }
  CellObj* as_cell() const { return reinterpret_cast<CellObj*>(obj); }
  FutureObj* as_future() const { return reinterpret_cast<FutureObj*>(obj); }
  TaskGroupObj* as_group() const { return reinterpret_cast<TaskGroupObj*>(obj); }
  CancelTokenObj* as_token() const { return reinterpret_cast<CancelTokenObj*>(obj); }
  // A value only the runtime gives meaning to (a future, task group or
  // cancel token): shown, compared and converted like a function value.
  bool is_handle() const { return tag >= Tag::Future; }
};

struct Object {
  Object* next = nullptr; // heap list
  bool marked = false;
  bool is_static = false; // program constant: never marked, never freed by a call
  Tag tag;
  // Bytes charged to the call's memory account for this object, in units of
  // 16 (in the header's padding: an object of up to 64 GiB).
  uint32_t charged16 = 0;
  explicit Object(Tag t) : tag(t) {}
  virtual ~Object() = default;
};

struct StringObj final : Object {
  std::string text;
  explicit StringObj(std::string s) : Object(Tag::String), text(std::move(s)) {}
};

struct ArrayObj final : Object {
  std::vector<Value> items;
  ArrayObj() : Object(Tag::Array) {}
};

// String-keyed map that keeps insertion order. Grow it through Heap::map_set
// (which charges new entries).
//
// Its index is open addressing over the entries themselves (each slot holds
// an entry's number + 1, 0 = empty; at most half the slots used), so a key
// is stored once and a lookup allocates nothing. A key stored twice (a hash
// node's own copy) made a growing map leave holes in the allocator that no
// later, longer key fits: resident memory ran a third above what was charged.
struct MapObj final : Object {
  std::vector<std::string> keys;
  std::vector<Value> values;
  MapObj() : Object(Tag::Map) {}

  const Value* find(std::string_view key) const;
  size_t size() const { return keys.size(); }
  // Room for n entries (before the first): one allocation per vector
  // instead of one per doubling.
  void reserve(size_t n);

private:
  friend class Heap;
  // Returns whether the key is new.
  bool set(std::string_view key, Value v);
  // The slot of `key`, or of the empty slot where it would go.
  size_t slot_of(std::string_view key, size_t hash) const;
  void grow_index();
  std::vector<size_t> m_hashes; // per entry
  std::vector<uint32_t> m_slots;
};

struct InstanceObj final : Object {
  uint32_t class_id;
  std::vector<Value> fields; // in declaration order
  InstanceObj(uint32_t cls, size_t nfields) : Object(Tag::Instance), class_id(cls), fields(nfields) {}
};

// A function value. Calling it enters `function` (CompiledProgram::functions)
// with, when `bound`, `self` before the arguments (a method taken from an
// instance: `p.name`), and its captures in the locals the function's
// capture_slots name (a lambda's captured variables: cells it shares with
// the function that made it, so an assignment on either side is seen by
// both).
struct FunctionObj final : Object {
  uint32_t function;
  bool bound = false;
  Value self;
  std::vector<Value> captures;
  FunctionObj(uint32_t fn, size_t ncaptures) : Object(Tag::Function), function(fn), captures(ncaptures) {}
};

struct CellObj final : Object {
  Value value;
  explicit CellObj(Value v) : Object(Tag::Cell), value(v) {}
};

// What `spawn` returns: a task's outcome. The runtime owns the task (`task`,
// opaque here) while it runs and settles the future when it ends; the task
// keeps its future alive (a root of the call's heap) until then.
struct FutureObj final : Object {
  enum class State : uint8_t { Pending, Ready, Failed, Cancelled };
  State state = State::Pending;
  bool observed = false; // its outcome was taken (await, a combinator, cancel): an error is not "unobserved"
  void* task = nullptr;  // the runtime's task while it runs
  Value value;           // Ready: the result; Failed by a throw: the thrown value
  Value group;           // its TaskGroup (null: none)
  Value token;           // `spawn with tok` (null: none)
  std::string error_kind, error_message; // Failed: the task's error (kind unhandled_throw: `value` was thrown)
  bool detached = false; // fire and forget (`spawn { }` as a statement): an error surfaces at the spawner's next await
  FutureObj() : Object(Tag::Future) {}
  bool settled() const { return state != State::Pending; }
};

// How a future, task group or cancel token is shown (to a host, in a
// prompt): "<future>", ...; null for other values.
inline const char* handle_text(Tag t) {
  return t == Tag::Future ? "<future>" : t == Tag::TaskGroup ? "<task group>" : t == Tag::CancelToken ? "<cancel token>" : nullptr;
}

// baml.spawn.TaskGroup: at most `limit` of its tasks run at once. A spawn
// into a full group waits (its spawner is suspended) until one of them ends;
// waiting spawners are let in first come, first served (FIFO).
struct TaskGroupObj final : Object {
  int64_t limit;
  int64_t running = 0;
  bool cancelled = false;      // cancel(): its tasks were cancelled, later spawns are born cancelled
  std::vector<Value> futures;  // of its tasks (settled ones are pruned as it grows)
  std::deque<void*> waiters;   // the runtime's spawners waiting for room, first in first (null: one that left)
  uint64_t popped = 0;         // how many were taken off the front so far (a waiter's ticket - popped is its place)
  explicit TaskGroupObj(int64_t n) : Object(Tag::TaskGroup), limit(n) {}
};

// baml.spawn.CancelToken: cancel() cancels every task spawned with it (or
// with a token made by any() over it). Cancelling an any() token does not
// cancel its sources.
struct CancelTokenObj final : Object {
  bool cancelled = false;
  std::vector<Value> futures;    // of tasks spawned with it (settled ones are pruned as it grows)
  std::vector<Value> dependents; // any() tokens over it
  CancelTokenObj() : Object(Tag::CancelToken) {}
};

// ---------------------------------------------------------------- memory limits

// The memory a script may use. One per engine, shared by its calls: the
// per-call limit, and the engine's total, which a call draws from in steps
// that grow with it (reserved()), so most allocations touch no shared
// counter while a call that allocates a little holds only a little: at most
// 1 KiB beyond its use up to 16 KiB, 16 KiB up to 1 MiB, 256 KiB up to
// 64 MiB, then 4 MiB. 0 = unlimited.
class MemoryPool {
public:
  // What a call that has charged `used` bytes holds of the engine's total.
  // Monotonic in `used` (each step's end is a multiple of the next step).
  static size_t reserved(size_t used) {
    size_t step = used <= (16u << 10) ? (1u << 10) : used <= (1u << 20) ? (16u << 10) : used <= (64u << 20) ? (256u << 10) : (4u << 20);
    return (used + step - 1) / step * step;
  }

  MemoryPool(size_t call_limit, size_t engine_limit)
      : m_call_limit(call_limit), m_call_cap(call_limit ? call_limit : SIZE_MAX), m_engine_limit(engine_limit) {}
  size_t call_limit() const { return m_call_limit; }
  // The most one call may have charged (SIZE_MAX: unlimited).
  size_t call_cap() const { return m_call_cap; }
  size_t engine_limit() const { return m_engine_limit; }
  // Bytes drawn by live calls (see reserved()).
  size_t in_use() const { return m_used.load(std::memory_order_relaxed); }

  // Draws `bytes` from the engine's total; false (drawing nothing) when it
  // would pass the limit.
  bool draw(size_t bytes) {
    if (m_engine_limit == 0) {
      m_used.fetch_add(bytes, std::memory_order_relaxed);
      return true;
    }
    size_t now = m_used.load(std::memory_order_relaxed);
    do {
      if (bytes > m_engine_limit - std::min(now, m_engine_limit)) return false;
    } while (!m_used.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    return true;
  }
  void give_back(size_t bytes) { m_used.fetch_sub(bytes, std::memory_order_relaxed); }

private:
  const size_t m_call_limit;
  const size_t m_call_cap;
  const size_t m_engine_limit;
  std::atomic<size_t> m_used{0};
};

// Thrown by Heap::charge before an allocation that would pass a limit. The
// runtime fails the call with an `out_of_memory` script error carrying
// what(); the allocation it guarded never happens.
class MemoryLimitExceeded : public std::exception {
public:
  enum class Which : uint8_t { Call, Engine };
  MemoryLimitExceeded(Which which, size_t limit);
  const char* what() const noexcept override { return m_message.c_str(); }
  Which which() const { return m_which; }

private:
  Which m_which;
  std::string m_message;
};

class Heap {
public:
  // `pool` (may be null: unlimited) outlives the heap.
  // The first collection comes after 256 KiB of allocation, or sooner
  // under a smaller limit (at half of it), so garbage cannot fail a call
  // whose live data fits.
  explicit Heap(MemoryPool* pool = nullptr)
      : m_pool(pool),
        m_gc_trigger_kib(uint32_t(pool ? std::min<size_t>(256, pool->call_cap() / 2048) : 256)) {}
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  ~Heap();

  // Every allocation a script causes is charged before it is made: charge()
  // throws MemoryLimitExceeded instead of letting it pass the call's or the
  // engine's limit. Objects record what was charged for them, and give it
  // back when collected; everything goes back when the heap is destroyed.
  void charge(size_t bytes) {
    size_t after = m_used + bytes;
    if (m_pool && (after > m_pool->call_cap() || after < bytes || after > MemoryPool::reserved(m_used))) charge_slow(after);
    m_used = after;
  }
  void uncharge(size_t bytes);
  // Bytes charged now (live objects, garbage not yet collected, and memory
  // charged by the runtime for this call).
  size_t used() const { return m_used; }

  // A string of the bytes `s` (charged before it is copied).
  StringObj* new_string(std::string_view s);
  // A string of at most `len` bytes that `fill(std::string&)` appends,
  // charged before it is built: concatenations, joins and replacements
  // whose size is known up front.
  template <typename Fill> StringObj* build_string(size_t len, Fill&& fill) {
    charge(round16(string_bytes(len)));
    std::string text;
    text.reserve(len);
    fill(text);
    return adopt(new StringObj(std::move(text)), string_bytes(len));
  }
  ArrayObj* new_array(size_t capacity = 0);
  // `expected`: entries about to be set (room is made for them at once).
  MapObj* new_map(size_t expected = 0);
  InstanceObj* new_instance(uint32_t class_id, size_t nfields);
  FunctionObj* new_function(uint32_t function, size_t ncaptures);
  CellObj* new_cell(Value v);
  FutureObj* new_future();
  TaskGroupObj* new_task_group(int64_t limit);
  CancelTokenObj* new_cancel_token();
  // Charges `bytes` more to object `o` (a vector of a runtime object grew).
  void charge_object(Object* o, size_t bytes) {
    charge(round16(bytes));
    o->charged16 += uint32_t(round16(bytes) / 16);
  }

  // Makes room for `extra` more items, charging the growth.
  void array_reserve(ArrayObj* a, size_t extra);
  void array_push(ArrayObj* a, Value v) {
    if (a->items.size() == a->items.capacity()) array_reserve(a, 1);
    a->items.push_back(v);
  }
  // m[key] = v, charging a new entry.
  void map_set(MapObj* m, std::string_view key, Value v);

  Value string_value(std::string_view s) { return Value::object(Tag::String, new_string(s)); }

  // True when enough has been allocated since the last collection that the
  // interpreter should call collect() at its next safepoint.
  bool wants_collect() const { return m_used > size_t(m_gc_trigger_kib) * 1024; }
  // Marks everything reachable from `roots` and frees the rest. With
  // `cancel_state`, it looks at the call's state as it goes and throws
  // Interrupted once a cancel was requested (a cancelled call's heap is
  // freed whole, so a collection left half done does no harm: the heap's
  // list and its charge stay exact).
  void collect(const Value* roots, size_t count, const std::atomic<uint32_t>* cancel_state = nullptr);
  // The same with several root ranges (every task's stack of a call).
  struct Roots {
    const Value* at;
    size_t count;
  };
  void collect(const std::vector<Roots>& roots, const std::atomic<uint32_t>* cancel_state = nullptr);

  size_t object_count() const { return m_objects; }

  // A heap's objects and what they were charged, taken out of it
  // (detach()) to be freed later (free_remains): freeing millions of objects
  // can take longer than anything else a finished call does.
  struct Remains {
    Object* head = nullptr;
    size_t used = 0;
    MemoryPool* pool = nullptr;
  };
  Remains detach();
  static void free_remains(Remains& r);

  static size_t string_bytes(size_t len) { return sizeof(StringObj) + len + 1; }
  // Objects are charged in whole units of 16 bytes (Object::charged16), so
  // what a collection gives back is exactly what was charged.
  static size_t round16(size_t bytes) { return (bytes + 15) & ~size_t(15); }

private:
  void charge_slow(size_t after);
  // Links an object that `bytes` were charged for into the heap.
  template <typename T> T* adopt(T* o, size_t bytes) {
    o->charged16 = uint32_t(round16(bytes) / 16);
    o->next = m_head;
    m_head = o;
    m_objects++;
    return o;
  }
  static void mark(Value v, std::vector<Object*>& gray);
  // A new T(args...) of a fixed size (charged before it is made).
  template <typename T, typename... Args> T* new_fixed(Args&&... args) {
    charge(round16(sizeof(T)));
    return adopt(new T(std::forward<Args>(args)...), sizeof(T));
  }

  // 32 bytes (every call has a heap): 2^32 objects would need over 100 GiB,
  // and the collection trigger is kept in KiB.
  Object* m_head = nullptr;
  size_t m_used = 0;
  MemoryPool* m_pool;
  uint32_t m_objects = 0;
  uint32_t m_gc_trigger_kib;
};

// ---------------------------------------------------------------- bounded work

// Thrown by long-running VM work (a builtin on a large value, a big
// concatenation, a deep comparison or conversion) when it sees that its call
// was asked to stop. The runtime then finishes the call as cancelled at once:
// its fiber, stopped mid-instruction, is discarded with its heap.
struct Interrupted {};

// The bits of a call's state word that say a cancel was requested (its
// origin; runtime/call.h's kOriginMask). Other bits mean other things.
constexpr uint32_t kCancelOriginMask = 0xFF;

// Lets long work look at its call's state every so often: tick() counts
// work done, in bytes copied or scanned (an element visited counts as
// kItemBytes), and every kBudget bytes checks the state, throwing
// Interrupted once a cancel was requested: about 0.1-1 ms of work between
// checks, whatever the input. A null state never interrupts.
class CancelCheck {
public:
  static constexpr int64_t kBudget = 256 * 1024;
  static constexpr int64_t kItemBytes = 64;

  explicit CancelCheck(const std::atomic<uint32_t>* state) : m_state(state) {}
  void bytes(size_t n) {
    m_left -= int64_t(n);
    if (m_left <= 0) check();
  }
  void items(size_t n = 1) { bytes(n * kItemBytes); }
  void check() {
    m_left = kBudget;
    if (m_state && (m_state->load(std::memory_order_relaxed) & kCancelOriginMask)) throw Interrupted{};
  }

private:
  const std::atomic<uint32_t>* m_state;
  int64_t m_left = kBudget;
};

// Appends `src` to `out` in slices, ticking `cc` between them.
void append_checked(std::string& out, std::string_view src, CancelCheck& cc);

// Deep structural equality (== in scripts). Floats compare by value.
// Cyclic structures compare coinductively (same shape = equal); acyclic ones
// nested deeper than 10,000 levels compare unequal rather than overflowing
// the native stack.
// With `cancel_state` (a call's state word; may be null), comparing two
// huge values looks at it as it goes (CancelCheck: it may throw Interrupted).
bool values_equal(Value a, Value b, const std::atomic<uint32_t>* cancel_state = nullptr);

} // namespace brake::vm
