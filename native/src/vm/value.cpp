#include "vm/value.h"

#include "common/flat_map.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

namespace brake::vm {

size_t MapObj::slot_of(std::string_view key, size_t hash) const {
  size_t mask = m_slots.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    uint32_t s = m_slots[i];
    if (s == 0 || (m_hashes[s - 1] == hash && keys[s - 1] == key)) return i;
  }
}

const Value* MapObj::find(std::string_view key) const {
  if (m_slots.empty()) return nullptr;
  uint32_t s = m_slots[slot_of(key, std::hash<std::string_view>()(key))];
  return s ? &values[s - 1] : nullptr;
}

void MapObj::grow_index() {
  size_t n = m_slots.empty() ? 8 : m_slots.size() * 2;
  m_slots.assign(n, 0);
  size_t mask = n - 1;
  for (size_t e = 0; e < keys.size(); e++) {
    size_t i = m_hashes[e] & mask;
    while (m_slots[i]) i = (i + 1) & mask;
    m_slots[i] = uint32_t(e + 1);
  }
}

void MapObj::reserve(size_t n) {
  if (n == 0 || !keys.empty()) return;
  keys.reserve(n);
  values.reserve(n);
  m_hashes.reserve(n);
  size_t slots = 8;
  while (slots < 2 * n) slots *= 2;
  m_slots.assign(slots, 0);
}

bool MapObj::set(std::string_view key, Value v) {
  size_t hash = std::hash<std::string_view>()(key);
  if (!m_slots.empty()) {
    if (uint32_t s = m_slots[slot_of(key, hash)]) {
      values[s - 1] = v;
      return false;
    }
  }
  // A map's entries are charged before they are made, so the memory limit
  // ends a map long before 2^32 entries.
  if (keys.size() >= UINT32_MAX - 1) throw std::length_error("map too large");
  keys.emplace_back(key);
  values.push_back(v);
  m_hashes.push_back(hash);
  if ((keys.size()) * 2 > m_slots.size()) {
    grow_index();
  } else {
    m_slots[slot_of(key, hash)] = uint32_t(keys.size());
  }
  return true;
}

MemoryLimitExceeded::MemoryLimitExceeded(Which which, size_t limit) : m_which(which) {
  m_message = std::string(which == Which::Call ? "the call's" : "the engine's") + " memory limit (" +
              std::to_string(limit) + " bytes) would be exceeded";
}

namespace {
// What one more map entry costs, beyond its key's bytes (charged twice:
// the key's string, and the slack of the keys' doubling): a key, a value, a
// hash and two index slots, and the slack of the vectors' doubling.
constexpr size_t kMapEntryBytes = 176;
} // namespace

Heap::~Heap() {
  Remains r{m_head, m_used, m_pool};
  free_remains(r);
}

Heap::Remains Heap::detach() {
  Remains r{m_head, m_used, m_pool};
  m_head = nullptr;
  m_used = 0;
  m_objects = 0;
  return r;
}

void Heap::free_remains(Remains& r) {
  for (Object* o = r.head; o;) {
    Object* next = o->next;
    delete o;
    o = next;
  }
  if (r.pool && r.used) r.pool->give_back(MemoryPool::reserved(r.used));
  r = Remains{};
}

void Heap::charge_slow(size_t after) {
  if (after > m_pool->call_cap() || after < m_used)
    throw MemoryLimitExceeded(MemoryLimitExceeded::Which::Call, m_pool->call_limit());
  size_t more = MemoryPool::reserved(after) - MemoryPool::reserved(m_used);
  if (more && !m_pool->draw(more))
    throw MemoryLimitExceeded(MemoryLimitExceeded::Which::Engine, m_pool->engine_limit());
}

void Heap::uncharge(size_t bytes) {
  size_t after = bytes > m_used ? 0 : m_used - bytes;
  if (m_pool) {
    size_t fewer = MemoryPool::reserved(m_used) - MemoryPool::reserved(after);
    if (fewer) m_pool->give_back(fewer);
  }
  m_used = after;
}

StringObj* Heap::new_string(std::string_view s) {
  size_t bytes = round16(string_bytes(s.size()));
  charge(bytes);
  return adopt(new StringObj(std::string(s)), bytes);
}

ArrayObj* Heap::new_array(size_t capacity) {
  size_t bytes = round16(sizeof(ArrayObj) + capacity * sizeof(Value));
  charge(bytes);
  ArrayObj* a = adopt(new ArrayObj(), bytes);
  if (capacity) a->items.reserve(capacity);
  return a;
}

MapObj* Heap::new_map(size_t expected) {
  charge(round16(sizeof(MapObj)));
  MapObj* m = adopt(new MapObj(), sizeof(MapObj));
  // Entries are charged as they are set (kMapEntryBytes covers their room).
  m->reserve(std::min<size_t>(expected, 1024));
  return m;
}

InstanceObj* Heap::new_instance(uint32_t class_id, size_t nfields) {
  size_t bytes = round16(sizeof(InstanceObj) + nfields * sizeof(Value));
  charge(bytes);
  return adopt(new InstanceObj(class_id, nfields), bytes);
}

FunctionObj* Heap::new_function(uint32_t function, size_t ncaptures) {
  size_t bytes = round16(sizeof(FunctionObj) + ncaptures * sizeof(Value));
  charge(bytes);
  return adopt(new FunctionObj(function, ncaptures), bytes);
}

CellObj* Heap::new_cell(Value v) { return new_fixed<CellObj>(v); }
FutureObj* Heap::new_future() { return new_fixed<FutureObj>(); }
TaskGroupObj* Heap::new_task_group(int64_t limit) { return new_fixed<TaskGroupObj>(limit); }
CancelTokenObj* Heap::new_cancel_token() { return new_fixed<CancelTokenObj>(); }

void Heap::array_reserve(ArrayObj* a, size_t extra) {
  size_t size = a->items.size(), cap = a->items.capacity();
  if (size + extra <= cap) return;
  size_t want = std::max({size + extra, cap * 2, size_t(4)});
  charge((want - cap) * sizeof(Value)); // a multiple of 16
  a->items.reserve(want);
  a->charged16 += uint32_t((want - cap) * sizeof(Value) / 16);
}

void Heap::map_set(MapObj* m, std::string_view key, Value v) {
  if (Value* slot = const_cast<Value*>(m->find(key))) {
    *slot = v;
    return;
  }
  size_t bytes = round16(kMapEntryBytes + 2 * key.size());
  charge(bytes);
  m->set(key, v);
  m->charged16 += uint32_t(bytes / 16);
}

void Heap::mark(Value v, std::vector<Object*>& gray) {
  if (!v.is_object() || v.obj->is_static || v.obj->marked) return;
  v.obj->marked = true;
  gray.push_back(v.obj);
}

void Heap::collect(const Value* roots, size_t count, const std::atomic<uint32_t>* cancel_state) {
  collect(std::vector<Roots>{Roots{roots, count}}, cancel_state);
}

void Heap::collect(const std::vector<Roots>& roots, const std::atomic<uint32_t>* cancel_state) {
  CancelCheck cc(cancel_state);
  // A collection left half done (Interrupted) leaves no mark behind: the
  // heap may outlive it (a call's tasks share it), and a stale mark would
  // keep the next collection from tracing what that object reaches.
  struct Unmark {
    Heap* heap;
    bool done = false;
    ~Unmark() {
      if (done) return;
      for (Object* o = heap->m_head; o; o = o->next) o->marked = false;
    }
  } unmark{this};
  std::vector<Object*> gray;
  for (const Roots& r : roots)
    for (size_t i = 0; i < r.count; i++) mark(r.at[i], gray);
  while (!gray.empty()) {
    Object* o = gray.back();
    gray.pop_back();
    cc.items();
    switch (o->tag) {
    case Tag::Array: {
      const auto& items = static_cast<ArrayObj*>(o)->items;
      for (size_t i = 0; i < items.size(); i++) {
        mark(items[i], gray);
        if ((i & 1023) == 1023) cc.items(1024); // an array of millions: looked at as it goes
      }
      break;
    }
    case Tag::Map: {
      const auto& values = static_cast<MapObj*>(o)->values;
      for (size_t i = 0; i < values.size(); i++) {
        mark(values[i], gray);
        if ((i & 1023) == 1023) cc.items(1024);
      }
      break;
    }
    case Tag::Instance:
      for (Value v : static_cast<InstanceObj*>(o)->fields) mark(v, gray);
      break;
    case Tag::Function: {
      auto* f = static_cast<FunctionObj*>(o);
      mark(f->self, gray);
      for (Value v : f->captures) mark(v, gray);
      break;
    }
    case Tag::Cell: mark(static_cast<CellObj*>(o)->value, gray); break;
    case Tag::Future: {
      auto* f = static_cast<FutureObj*>(o);
      for (Value v : {f->value, f->group, f->token}) mark(v, gray);
      break;
    }
    case Tag::TaskGroup: {
      auto* g = static_cast<TaskGroupObj*>(o);
      for (Value v : g->futures) mark(v, gray);
      break;
    }
    case Tag::CancelToken: {
      auto* t = static_cast<CancelTokenObj*>(o);
      for (Value v : t->futures) mark(v, gray);
      for (Value v : t->dependents) mark(v, gray);
      break;
    }
    default:
      break;
    }
  }
  Object** link = &m_head;
  size_t freed = 0;
  try {
    while (Object* o = *link) {
      cc.items(); // freeing is the slow part: millions of objects take a while
      if (o->marked) {
        o->marked = false;
        link = &o->next;
      } else {
        *link = o->next;
        freed += size_t(o->charged16) * 16;
        delete o;
        m_objects--;
      }
    }
  } catch (const Interrupted&) {
    uncharge(freed);
    throw;
  }
  unmark.done = true;
  uncharge(freed);
  // Collect again once as much has been allocated as survived (amortised
  // O(1) per allocation), at least 256 KiB later; under a limit, already
  // when half the room left is used, so garbage does not fail a call whose
  // live data fits.
  size_t live = m_used;
  size_t trigger = live + std::max<size_t>(256 * 1024, live);
  if (m_pool && m_pool->call_cap() != SIZE_MAX && live < m_pool->call_cap())
    trigger = std::min(trigger, live + std::max<size_t>(16 * 1024, (m_pool->call_cap() - live) / 2));
  m_gc_trigger_kib = uint32_t(std::min<size_t>(UINT32_MAX, trigger / 1024));
}

namespace {
// Equality is coinductive: a pair of objects already being compared counts
// as equal, so distinct cyclic structures of the same shape compare equal
// instead of recursing forever. Once a comparison has visited kMemoFrom
// object pairs (or is kMemoFrom levels deep, where cycles live), every pair
// it enters is remembered: a pair met again is either still being compared
// (a cycle) or was found equal (an unequal pair ends the whole comparison at
// once), so answering "equal" is right, and each pair of a shared
// structure (a DAG, which would take exponential time unfolded) is compared
// once: linear time. Small comparisons stay allocation-free. Structures
// nested deeper than kMaxEqualDepth compare unequal rather than exhausting
// the native stack.
constexpr size_t kMemoFrom = 64;
constexpr int kMaxEqualDepth = 10000;


// Compares two strings in slices, ticking `cc` between them.
bool equal_strings(const std::string& x, const std::string& y, CancelCheck* cc) {
  if (x.size() != y.size()) return false;
  constexpr size_t kSlice = CancelCheck::kBudget;
  if (!cc || x.size() <= kSlice) return x == y;
  for (size_t at = 0; at < x.size(); at += kSlice) {
    size_t n = std::min(kSlice, x.size() - at);
    if (std::memcmp(x.data() + at, y.data() + at, n) != 0) return false;
    cc->bytes(n);
  }
  return true;
}

struct Equality {
  using Pair = std::pair<const Object*, const Object*>;
  explicit Equality(CancelCheck* check) : cc(check), seen(Pair(nullptr, nullptr)) {}
  CancelCheck* cc;
  size_t visited = 0;
  FlatMap<Pair, bool, PointerPairHash> seen; // (a set: the value is unused)

  bool equal(Value a, Value b, int depth) {
    if (a.tag != b.tag) return false;
    if (!a.is_object() || a.tag == Tag::String || a.obj == b.obj) return equal_objects(a, b, depth);
    if (depth > kMaxEqualDepth) return false;
    if (cc) cc->items();
    if (++visited > kMemoFrom || depth >= int(kMemoFrom)) {
      if (!seen.insert(Pair(a.obj, b.obj), true).second) return true;
    }
    return equal_objects(a, b, depth);
  }

  bool equal_objects(Value a, Value b, int depth) {
    switch (a.tag) {
    case Tag::Null: return true;
    case Tag::Bool: return a.b == b.b;
    case Tag::Int: return a.i == b.i;
    case Tag::Float: return a.f == b.f;
    case Tag::Enum: return a.e == b.e;
    case Tag::String: return a.obj == b.obj || equal_strings(a.as_string()->text, b.as_string()->text, cc);
    case Tag::Array: {
      if (a.obj == b.obj) return true;
      auto& x = a.as_array()->items;
      auto& y = b.as_array()->items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); i++)
        if (!equal(x[i], y[i], depth + 1)) return false;
      return true;
    }
    case Tag::Map: {
      if (a.obj == b.obj) return true;
      auto* x = a.as_map();
      auto* y = b.as_map();
      if (x->size() != y->size()) return false;
      for (size_t i = 0; i < x->size(); i++) {
        const Value* other = y->find(x->keys[i]);
        if (!other || !equal(x->values[i], *other, depth + 1)) return false;
      }
      return true;
    }
    case Tag::Instance: {
      if (a.obj == b.obj) return true;
      auto* x = a.as_instance();
      auto* y = b.as_instance();
      if (x->class_id != y->class_id) return false;
      for (size_t i = 0; i < x->fields.size(); i++)
        if (!equal(x->fields[i], y->fields[i], depth + 1)) return false;
      return true;
    }
    case Tag::Function: // the same function value (functions are compared by identity)
    case Tag::Cell:
    case Tag::Future:
    case Tag::TaskGroup:
    case Tag::CancelToken: return a.obj == b.obj;
    }
    return false;
  }
};

} // namespace

bool values_equal(Value a, Value b, const std::atomic<uint32_t>* cancel_state) {
  if (!a.is_object() || a.tag != b.tag || a.obj == b.obj) { // the common cases, without the walk's state
    Equality eq(nullptr);
    return eq.equal(a, b, 0);
  }
  CancelCheck cc(cancel_state);
  Equality eq(cancel_state ? &cc : nullptr);
  return eq.equal(a, b, 0);
}

void append_checked(std::string& out, std::string_view src, CancelCheck& cc) {
  constexpr size_t kSlice = CancelCheck::kBudget;
  for (size_t at = 0; at < src.size(); at += kSlice) {
    size_t n = std::min(kSlice, src.size() - at);
    out.append(src.data() + at, n);
    cc.bytes(n);
  }
}

} // namespace brake::vm
