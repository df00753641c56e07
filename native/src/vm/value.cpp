#include "vm/value.h"

#include <algorithm>
#include <unordered_set>

namespace brake::vm {

const Value* MapObj::find(std::string_view key) const {
  auto it = index.find(std::string(key));
  return it == index.end() ? nullptr : &values[it->second];
}

void MapObj::set(std::string_view key, Value v) {
  auto [it, inserted] = index.emplace(std::string(key), keys.size());
  if (inserted) {
    keys.emplace_back(key);
    values.push_back(v);
  } else {
    values[it->second] = v;
  }
}

Heap::~Heap() {
  for (Object* o = m_head; o;) {
    Object* next = o->next;
    delete o;
    o = next;
  }
}

template <typename T, typename... Args> T* Heap::track(size_t bytes, Args&&... args) {
  T* o = new T(std::forward<Args>(args)...);
  o->next = m_head;
  m_head = o;
  m_objects++;
  m_bytes_since_gc += bytes;
  return o;
}

StringObj* Heap::new_string(std::string s) {
  size_t bytes = sizeof(StringObj) + s.size();
  return track<StringObj>(bytes, std::move(s));
}
ArrayObj* Heap::new_array() { return track<ArrayObj>(sizeof(ArrayObj) + 64); }
MapObj* Heap::new_map() { return track<MapObj>(sizeof(MapObj) + 128); }
InstanceObj* Heap::new_instance(uint32_t class_id, size_t nfields) {
  return track<InstanceObj>(sizeof(InstanceObj) + nfields * sizeof(Value), class_id, nfields);
}

void Heap::mark(Value v, std::vector<Object*>& gray) {
  if (!v.is_object() || v.obj->is_static || v.obj->marked) return;
  v.obj->marked = true;
  gray.push_back(v.obj);
}

void Heap::collect(const Value* roots, size_t count) {
  std::vector<Object*> gray;
  for (size_t i = 0; i < count; i++) mark(roots[i], gray);
  while (!gray.empty()) {
    Object* o = gray.back();
    gray.pop_back();
    switch (o->tag) {
    case Tag::Array:
      for (Value v : static_cast<ArrayObj*>(o)->items) mark(v, gray);
      break;
    case Tag::Map:
      for (Value v : static_cast<MapObj*>(o)->values) mark(v, gray);
      break;
    case Tag::Instance:
      for (Value v : static_cast<InstanceObj*>(o)->fields) mark(v, gray);
      break;
    default:
      break;
    }
  }
  Object** link = &m_head;
  size_t live_bytes = 0;
  while (Object* o = *link) {
    if (o->marked) {
      o->marked = false;
      live_bytes += sizeof(Object) + 32;
      link = &o->next;
    } else {
      *link = o->next;
      delete o;
      m_objects--;
    }
  }
  m_bytes_since_gc = 0;
  // Grow the threshold with the live set so collection stays amortised O(1).
  m_gc_threshold_kib = uint32_t(std::min<size_t>(UINT32_MAX, std::max<size_t>(256, live_bytes * 2 / 1024)));
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

struct PairHash {
  size_t operator()(const std::pair<const Object*, const Object*>& p) const {
    return std::hash<const void*>()(p.first) * 31 + std::hash<const void*>()(p.second);
  }
};

struct Equality {
  size_t visited = 0;
  std::unordered_set<std::pair<const Object*, const Object*>, PairHash> seen;

  bool equal(Value a, Value b, int depth) {
    if (a.tag != b.tag) return false;
    if (!a.is_object() || a.tag == Tag::String || a.obj == b.obj) return equal_objects(a, b, depth);
    if (depth > kMaxEqualDepth) return false;
    if (++visited > kMemoFrom || depth >= int(kMemoFrom)) {
      if (!seen.emplace(a.obj, b.obj).second) return true;
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
    case Tag::String: return a.obj == b.obj || a.as_string()->text == b.as_string()->text;
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
    }
    return false;
  }
};

} // namespace

bool values_equal(Value a, Value b) {
  Equality eq;
  return eq.equal(a, b, 0);
}

} // namespace brake::vm
