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

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
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
};

struct Object;
struct StringObj;
struct ArrayObj;
struct MapObj;
struct InstanceObj;

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
};

struct Object {
  Object* next = nullptr; // heap list
  bool marked = false;
  bool is_static = false; // program constant: never marked, never freed by a call
  Tag tag;
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

// String-keyed map that keeps insertion order.
struct MapObj final : Object {
  std::vector<std::string> keys;
  std::vector<Value> values;
  std::unordered_map<std::string, size_t> index;
  MapObj() : Object(Tag::Map) {}

  const Value* find(std::string_view key) const;
  void set(std::string_view key, Value v);
  size_t size() const { return keys.size(); }
};

struct InstanceObj final : Object {
  uint32_t class_id;
  std::vector<Value> fields; // in declaration order
  InstanceObj(uint32_t cls, size_t nfields) : Object(Tag::Instance), class_id(cls), fields(nfields) {}
};

class Heap {
public:
  Heap() = default;
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  ~Heap();

  StringObj* new_string(std::string s);
  ArrayObj* new_array();
  MapObj* new_map();
  InstanceObj* new_instance(uint32_t class_id, size_t nfields);

  Value string_value(std::string s) { return Value::object(Tag::String, new_string(std::move(s))); }

  // True when enough has been allocated since the last collection that the
  // interpreter should call collect() at its next safepoint.
  bool wants_collect() const { return m_bytes_since_gc > size_t(m_gc_threshold_kib) * 1024; }
  // Marks everything reachable from `roots` and frees the rest.
  void collect(const Value* roots, size_t count);

  size_t object_count() const { return m_objects; }

private:
  template <typename T, typename... Args> T* track(size_t bytes, Args&&... args);
  static void mark(Value v, std::vector<Object*>& gray);

  // 24 bytes (every call has a heap): 2^32 objects would need over 100 GiB,
  // and the threshold is kept in KiB.
  Object* m_head = nullptr;
  size_t m_bytes_since_gc = 0;
  uint32_t m_objects = 0;
  uint32_t m_gc_threshold_kib = 256;
};

// Deep structural equality (== in scripts). Floats compare by value.
// Cyclic structures compare coinductively (same shape = equal); acyclic ones
// nested deeper than 10,000 levels compare unequal rather than overflowing
// the native stack.
bool values_equal(Value a, Value b);

} // namespace brake::vm
