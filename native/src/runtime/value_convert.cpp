#include <set>
#include "runtime/value_convert.h"

#include "runtime/call.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace brake::runtime {

using lang::TypeId;
using lang::TypeKind;
using vm::Tag;
using vm::Value;

namespace {

const char* kind_name(brake_kind k) {
  switch (k) {
  case BRAKE_KIND_NULL: return "null";
  case BRAKE_KIND_BOOL: return "bool";
  case BRAKE_KIND_INT: return "int";
  case BRAKE_KIND_FLOAT: return "float";
  case BRAKE_KIND_STRING: return "string";
  case BRAKE_KIND_ARRAY: return "array";
  case BRAKE_KIND_MAP: return "map";
  case BRAKE_KIND_INSTANCE: return "instance";
  case BRAKE_KIND_ENUM: return "enum";
  }
  return "?";
}

int variant_index(const vm::EnumInfo& e, const std::string& name) {
  for (size_t i = 0; i < e.variants.size(); i++)
    if (e.variants[i] == name) return int(i);
  return -1;
}

// Index of `key` in a MAP/INSTANCE host value, or -1.
int find_key(const brake_value& v, const std::string& key) {
  for (size_t i = 0; i < v.keys.size(); i++)
    if (v.keys[i] == key) return int(i);
  return -1;
}

// A FLOAT -0.0: what a host whose numbers are doubles (JS) sends for -0, so
// that its sign survives where a float is declared. Where an int is
// declared it stands for the int 0 (such a host cannot tell them apart).
bool is_negative_zero(const brake_value& v) {
  return v.kind == BRAKE_KIND_FLOAT && v.f == 0 && std::signbit(v.f);
}

// Whether map key `k` is one of an enum's or string literals' key type.
bool key_fits(const vm::CompiledProgram& p, const std::string& k, TypeId t) {
  const lang::Type& ty = p.types.get(t);
  switch (ty.kind) {
  case TypeKind::Enum: return variant_index(p.enums[size_t(ty.decl)], k) >= 0;
  case TypeKind::Literal: return ty.literal == k;
  case TypeKind::Union:
    for (TypeId m : ty.args)
      if (key_fits(p, k, m)) return true;
    return false;
  default: return true;
  }
}

// Union members a value was found not to fit: with recursive aliases the
// same (value, member) pair is met again on many paths, and trying it each
// time would take exponential time (only kept when the program has them).
using FitMemo = std::set<std::pair<const brake_value*, TypeId>>;

bool fits(const vm::CompiledProgram& p, const brake_value& v, TypeId t, std::string& why, int depth, FitMemo* memo) {
  if (depth > 256) {
    why = "value nested too deeply";
    return false;
  }
  const lang::Type& ty = p.types.get(t);
  auto mismatch = [&]() {
    why = "expected " + p.type_name(t) + ", got " + kind_name(v.kind);
    // Against literal types the value itself says more than its kind.
    bool literal = ty.kind == TypeKind::Literal;
    for (TypeId m : ty.kind == TypeKind::Union ? ty.args : std::vector<TypeId>{})
      literal = literal || p.types.kind(m) == TypeKind::Literal;
    if (!literal) return false;
    if (v.kind == BRAKE_KIND_STRING) why += " \"" + v.text.substr(0, 40) + (v.text.size() > 40 ? "...\"" : "\"");
    else if (v.kind == BRAKE_KIND_INT) why += " " + std::to_string(v.i);
    else if (v.kind == BRAKE_KIND_BOOL) why += v.b ? " true" : " false";
    return false;
  };
  switch (ty.kind) {
  case TypeKind::Any: return true;
  case TypeKind::Alias:
  case TypeKind::Stream: break; // get() sees through them
  case TypeKind::Never: return mismatch();
  case TypeKind::Null: return v.kind == BRAKE_KIND_NULL || mismatch();
  case TypeKind::Bool: return v.kind == BRAKE_KIND_BOOL || mismatch();
  case TypeKind::Int: return v.kind == BRAKE_KIND_INT || is_negative_zero(v) || mismatch();
  case TypeKind::Float: return v.kind == BRAKE_KIND_FLOAT || v.kind == BRAKE_KIND_INT || mismatch();
  case TypeKind::String: return v.kind == BRAKE_KIND_STRING || mismatch();
  case TypeKind::Function: // (a host has no function values, futures, task groups or tokens to give)
  case TypeKind::Future:
  case TypeKind::TaskGroup:
  case TypeKind::CancelToken: return mismatch();
  case TypeKind::Literal: {
    bool same = ty.args[0] == lang::TypeTable::STRING ? v.kind == BRAKE_KIND_STRING && v.text == ty.literal
                : ty.args[0] == lang::TypeTable::INT  ? v.kind == BRAKE_KIND_INT && std::to_string(v.i) == ty.literal
                                                      : v.kind == BRAKE_KIND_BOOL && (v.b ? "true" : "false") == ty.literal;
    return same || mismatch();
  }
  case TypeKind::Array:
    if (v.kind != BRAKE_KIND_ARRAY) return mismatch();
    for (size_t i = 0; i < v.items.size(); i++)
      if (!fits(p, *v.items[i], ty.args[0], why, depth + 1, memo)) {
        why = "element " + std::to_string(i) + ": " + why;
        return false;
      }
    return true;
  case TypeKind::Map:
    if (v.kind != BRAKE_KIND_MAP) return mismatch();
    if (ty.args[0] != lang::TypeTable::STRING)
      for (const std::string& k : v.keys)
        if (!key_fits(p, k, ty.args[0])) {
          why = "key \"" + k.substr(0, 40) + "\" is not a " + p.type_name(ty.args[0]);
          return false;
        }
    for (size_t i = 0; i < v.items.size(); i++)
      if (!fits(p, *v.items[i], ty.args[1], why, depth + 1, memo)) {
        why = "key \"" + v.keys[i] + "\": " + why;
        return false;
      }
    return true;
  case TypeKind::Class: {
    const vm::ClassInfo& cls = p.classes[size_t(ty.decl)];
    if (v.kind == BRAKE_KIND_INSTANCE && v.type_name != cls.name) return mismatch();
    if (v.kind != BRAKE_KIND_INSTANCE && v.kind != BRAKE_KIND_MAP) return mismatch();
    for (const std::string& k : v.keys)
      if (std::find(cls.field_names.begin(), cls.field_names.end(), k) == cls.field_names.end()) {
        why = "class " + cls.name + " has no field '" + k + "'";
        return false;
      }
    for (size_t f = 0; f < cls.field_names.size(); f++) {
      int at = find_key(v, cls.field_names[f]);
      if (at < 0) {
        if (p.types.contains_null(cls.field_types[f])) continue;
        why = "missing field '" + cls.field_names[f] + "' of " + cls.name;
        return false;
      }
      if (!fits(p, *v.items[size_t(at)], cls.field_types[f], why, depth + 1, memo)) {
        why = "field '" + cls.field_names[f] + "': " + why;
        return false;
      }
    }
    return true;
  }
  case TypeKind::Enum: {
    const vm::EnumInfo& e = p.enums[size_t(ty.decl)];
    if (v.kind == BRAKE_KIND_ENUM && v.type_name != e.name) return mismatch();
    if (v.kind != BRAKE_KIND_ENUM && v.kind != BRAKE_KIND_STRING) return mismatch();
    if (variant_index(e, v.text) < 0) {
      why = "'" + v.text + "' is not a variant of " + e.name;
      return false;
    }
    return true;
  }
  case TypeKind::Union:
    for (TypeId m : ty.args) {
      if (memo && memo->count({&v, m})) continue;
      std::string ignored;
      if (fits(p, v, m, ignored, depth + 1, memo)) return true;
      if (memo) memo->insert({&v, m});
    }
    return mismatch();
  }
  return mismatch();
}

// Picks the union member a fitting host value converts to: an exact kind
// match first (so an INT stays an int in `int | float`), then any fit.
TypeId pick_member(const vm::CompiledProgram& p, const brake_value& v, const lang::Type& u) {
  std::string ignored;
  for (TypeId m : u.args) {
    TypeKind k = p.types.kind(m);
    bool exact = (k == TypeKind::Int && v.kind == BRAKE_KIND_INT) || (k == TypeKind::Float && v.kind == BRAKE_KIND_FLOAT);
    if (exact) return m;
  }
  for (TypeId m : u.args)
    if (host_value_fits(p, v, m, ignored)) return m;
  return lang::TypeTable::ANY;
}

} // namespace

bool host_value_fits(const vm::CompiledProgram& p, const brake_value& v, TypeId t, std::string& why) {
  FitMemo memo;
  return fits(p, v, t, why, 0, p.types.has_aliases() ? &memo : nullptr);
}

namespace {
Value to_vm_checked(const vm::CompiledProgram& p, const brake_value& v, TypeId t, vm::Heap& heap, vm::CancelCheck& cc) {
  cc.items();
  const lang::Type& ty = p.types.get(t);
  if (ty.kind == TypeKind::Union) return to_vm_checked(p, v, pick_member(p, v, ty), heap, cc);
  switch (v.kind) {
  case BRAKE_KIND_NULL: return Value::null();
  case BRAKE_KIND_BOOL: return Value::boolean(v.b != 0);
  case BRAKE_KIND_INT:
    if (ty.kind == TypeKind::Float) return Value::number(double(v.i));
    return Value::integer(v.i);
  case BRAKE_KIND_FLOAT:
    if (ty.kind == TypeKind::Int) return Value::integer(0); // -0.0, see is_negative_zero
    return Value::number(v.f);
  case BRAKE_KIND_STRING:
  case BRAKE_KIND_ENUM:
    if (ty.kind == TypeKind::Enum) {
      const vm::EnumInfo& e = p.enums[size_t(ty.decl)];
      return Value::enum_variant(uint32_t(ty.decl), uint32_t(std::max(variant_index(e, v.text), 0)));
    }
    if (v.text.size() <= size_t(vm::CancelCheck::kBudget)) return heap.string_value(v.text);
    return Value::object(Tag::String, heap.build_string(v.text.size(), [&](std::string& out) {
      vm::append_checked(out, v.text, cc);
    }));
  case BRAKE_KIND_ARRAY: {
    vm::ArrayObj* a = heap.new_array(v.items.size());
    TypeId elem = ty.kind == TypeKind::Array ? ty.args[0] : lang::TypeTable::ANY;
    for (auto& item : v.items) heap.array_push(a, to_vm_checked(p, *item, elem, heap, cc));
    return Value::object(Tag::Array, a);
  }
  case BRAKE_KIND_MAP:
  case BRAKE_KIND_INSTANCE:
    if (ty.kind == TypeKind::Class) {
      const vm::ClassInfo& cls = p.classes[size_t(ty.decl)];
      vm::InstanceObj* o = heap.new_instance(uint32_t(ty.decl), cls.field_names.size());
      for (size_t f = 0; f < cls.field_names.size(); f++) {
        int at = find_key(v, cls.field_names[f]);
        o->fields[f] = at < 0 ? Value::null() : to_vm_checked(p, *v.items[size_t(at)], cls.field_types[f], heap, cc);
      }
      return Value::object(Tag::Instance, o);
    } else {
      vm::MapObj* m = heap.new_map(v.items.size());
      TypeId val = ty.kind == TypeKind::Map ? ty.args[1] : lang::TypeTable::ANY;
      for (size_t i = 0; i < v.items.size(); i++) heap.map_set(m, v.keys[i], to_vm_checked(p, *v.items[i], val, heap, cc));
      return Value::object(Tag::Map, m);
    }
  }
  return Value::null();
}
} // namespace

Value to_vm(const vm::CompiledProgram& p, const brake_value& v, TypeId t, vm::Heap& heap,
            const std::atomic<uint32_t>* cancel_state) {
  vm::CancelCheck cc(cancel_state);
  return to_vm_checked(p, v, t, heap, cc);
}

namespace {

struct TooDeep {};

// Converts into host values, charging each node to the call's heap (still
// alive while its result is converted): shared structure is copied once per
// path, so a small DAG can expand enormously, and the call's memory limit is
// what bounds that.
struct ToHost {
  // What malloc adds to each block, and what one node costs with it.
  static constexpr size_t kMallocOverhead = 16;
  static constexpr size_t kNodeBytes = sizeof(brake_value) + kMallocOverhead;

  const vm::CompiledProgram& p;
  vm::Heap& heap;
  const std::atomic<uint32_t>* cancel_state;
  std::unordered_set<const vm::Object*> path;
  uint32_t until_check = kCheckEvery;

  static constexpr uint32_t kCheckEvery = 4096;

  ValuePtr convert(Value v, int depth) {
    if (depth > kMaxValueDepth) throw TooDeep{};
    if (--until_check == 0) {
      until_check = kCheckEvery;
      if (cancel_state && (cancel_state->load(std::memory_order_relaxed) & kOriginMask)) throw vm::Interrupted{};
    }
    heap.charge(kNodeBytes);
    auto out = std::make_unique<brake_value>();
    switch (v.tag) {
    case Tag::Null: out->kind = BRAKE_KIND_NULL; break;
    case Tag::Bool: out->kind = BRAKE_KIND_BOOL; out->b = v.b; break;
    case Tag::Int: out->kind = BRAKE_KIND_INT; out->i = v.i; break;
    case Tag::Float: out->kind = BRAKE_KIND_FLOAT; out->f = v.f; break;
    case Tag::Enum: {
      out->kind = BRAKE_KIND_ENUM;
      const vm::EnumInfo& e = p.enums[v.enum_id()];
      out->type_name = e.name;
      out->text = e.variants[v.variant()];
      break;
    }
    case Tag::String:
      out->kind = BRAKE_KIND_STRING;
      heap.charge(v.as_string()->text.size());
      copy_text(out->text, v.as_string()->text);
      break;
    case Tag::Function: // a function value reaches a host as its name: "<function NAME>"
    case Tag::Future:
    case Tag::TaskGroup:
    case Tag::CancelToken:
    case Tag::Cell:
      out->kind = BRAKE_KIND_STRING;
      if (const char* shown = handle_text(v.tag)) {
        out->text = shown;
        break;
      }
      out->text = "<function " + (v.tag == Tag::Function ? p.functions[v.as_function()->function].name : std::string()) + ">";
      break;
    default: {
      if (!path.insert(v.obj).second) return out; // a cycle: cut it as null
      if (v.tag == Tag::Array) {
        out->kind = BRAKE_KIND_ARRAY;
        add_items(*out, v.as_array()->items, depth);
      } else if (v.tag == Tag::Map) {
        out->kind = BRAKE_KIND_MAP;
        auto* m = v.as_map();
        for (const std::string& k : m->keys) heap.charge(sizeof(std::string) + k.size());
        out->keys = m->keys;
        add_items(*out, m->values, depth);
      } else {
        out->kind = BRAKE_KIND_INSTANCE;
        auto* o = v.as_instance();
        const vm::ClassInfo& cls = p.classes[o->class_id];
        out->type_name = cls.name;
        heap.charge(cls.field_names.size() * sizeof(std::string));
        if (o->class_id == p.response_class) {
          // Hidden fields ('#', last) stay behind.
          size_t shown = vm::kResponseBody;
          out->keys.assign(cls.field_names.begin(), cls.field_names.begin() + std::ptrdiff_t(shown));
          add_items(*out, std::vector<Value>(o->fields.begin(), o->fields.begin() + std::ptrdiff_t(shown)), depth);
        } else {
          out->keys = cls.field_names;
          add_items(*out, o->fields, depth);
        }
      }
      path.erase(v.obj);
    }
    }
    return out;
  }

  // Copies a string in slices, looking at the call's state between them: a
  // 100 MB result is copied in about as many milliseconds.
  void copy_text(std::string& out, const std::string& text) {
    constexpr size_t kSlice = 1 << 20;
    if (text.size() <= kSlice) {
      out = text;
      return;
    }
    out.reserve(text.size());
    for (size_t at = 0; at < text.size(); at += kSlice) {
      if (cancel_state && (cancel_state->load(std::memory_order_relaxed) & kOriginMask)) throw vm::Interrupted{};
      out.append(text, at, kSlice);
    }
  }

  void add_items(brake_value& out, const std::vector<Value>& items, int depth) {
    heap.charge(kMallocOverhead + items.size() * sizeof(ValuePtr));
    out.items.reserve(items.size());
    for (Value x : items) out.items.push_back(convert(x, depth + 1));
  }
};

} // namespace

ValuePtr from_vm(const vm::CompiledProgram& p, Value v, vm::Heap& heap, const std::atomic<uint32_t>* cancel_state) {
  ToHost cx{p, heap, cancel_state, {}};
  try {
    return cx.convert(v, 0);
  } catch (const TooDeep&) {
    return nullptr;
  }
}

} // namespace brake::runtime
