// types.h: the checker's interned type table.
//
// Types are interned: equal types have equal TypeIds, so comparison is an
// integer compare. Optionals are unions with null (`T?` == `T | null`).
// `Any` marks a type the checker could not determine (after an error, or an
// empty literal without context); it is compatible with everything so one
// mistake does not cascade into many diagnostics. `Never` is the type of
// expressions that do not produce a value (return, throw, break).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace brake::lang {

using TypeId = int32_t;

// Literal: one value of a base type (`"TWO"`, `3`, `true`): args[0] is the
// base (STRING, INT or BOOL), `literal` the value as text (the string's
// characters, the int in decimal, "true" or "false").
// Alias: a recursive type alias (`type Json = int | Json[] | map<string,
// Json>`), kept by name (decl: its index) so the type stays finite. get()
// and kind() see through it to its target; raw_kind() and alias_name() see
// the alias itself (what names and output formats show). Aliases that are
// not recursive are replaced by their target when resolved.
// Stream: a type with streaming attributes written on it (`(A | B)
// @stream.done`, a return type's `@stream.not_null`): args[0] is the type,
// decl its lang::StreamFlag bits. get() and kind() see through it too;
// stream_flags() reads it (only the parser of a partial reply does).
// Function: args are the parameters' types, then the result's.
enum class TypeKind : uint8_t { Any, Never, Null, Bool, Int, Float, String, Array, Map, Union, Class, Enum, Literal, Alias, Stream, Function,
                              Future,       // Future<args[0]>: what spawn returns
                              TaskGroup,    // baml.spawn.TaskGroup
                              CancelToken}; // baml.spawn.CancelToken

struct Type {
  TypeKind kind;
  std::vector<TypeId> args; // Array: [elem]; Map: [key, value]; Union: sorted members
  int32_t decl = -1;        // Class / Enum: index of the declaration
  std::string literal;      // Literal: the value as text
};

class TypeTable {
public:
  static constexpr TypeId ANY = 0, NEVER = 1, NUL = 2, BOOL = 3, INT = 4, FLOAT = 5, STRING = 6;

  TypeTable();

  const Type& get(TypeId id) const { return m_types[size_t(unalias(id))]; }
  TypeKind kind(TypeId id) const { return m_types[size_t(unalias(id))].kind; }
  TypeKind raw_kind(TypeId id) const { return m_types[size_t(id)].kind; }
  // A recursive alias's target (through other aliases); any other type itself.
  TypeId unalias(TypeId id) const {
    // A chain longer than the table is a cycle the checker has not reported
    // yet (it does, once every alias's target is known): unknown until then.
    for (size_t steps = 0; steps <= m_types.size(); steps++) {
      const Type& t = m_types[size_t(id)];
      if (t.kind == TypeKind::Alias) id = m_alias_targets[size_t(t.decl)];
      else if (t.kind == TypeKind::Stream) id = t.args[0];
      else return id;
    }
    return ANY;
  }
  // `t` without the streaming attributes written on it (they never nest).
  TypeId without_stream(TypeId t) const { return m_types[size_t(t)].kind == TypeKind::Stream ? m_types[size_t(t)].args[0] : t; }
  // `t` with streaming attributes (lang::StreamFlag bits; 0: `t` itself).
  TypeId streamed(TypeId t, uint8_t flags);
  uint8_t stream_flags(TypeId t) const {
    return m_types[size_t(t)].kind == TypeKind::Stream ? uint8_t(m_types[size_t(t)].decl) : 0;
  }
  // Recursive aliases: declared first (a type may name one before its target
  // is known), their target set once resolved.
  TypeId alias_type(int32_t decl, const std::string& name);
  void set_alias_target(TypeId alias, TypeId target) { m_alias_targets[size_t(m_types[size_t(alias)].decl)] = target; }
  // What a recursive alias was declared as (itself maybe an alias).
  TypeId alias_target(TypeId alias) const { return m_alias_targets[size_t(m_types[size_t(alias)].decl)]; }
  const std::string& alias_name(TypeId alias) const { return m_alias_names[size_t(m_types[size_t(alias)].decl)]; }
  bool has_aliases() const { return !m_alias_names.empty(); }
  // The recursive aliases, by index: name and target.
  size_t alias_count() const { return m_alias_names.size(); }
  const std::string& alias_name_at(size_t i) const { return m_alias_names[i]; }
  TypeId alias_target_at(size_t i) const { return m_alias_targets[i]; }

  TypeId array_of(TypeId elem);
  TypeId map_of(TypeId key, TypeId value);
  TypeId class_type(int32_t decl);
  // (params...) -> result
  TypeId function_of(std::vector<TypeId> params, TypeId result);
  TypeId future_of(TypeId result);
  TypeId task_group();
  TypeId cancel_token();
  TypeId enum_type(int32_t decl);
  // The literal type of `text` over `base` (STRING, INT or BOOL).
  TypeId literal_of(TypeId base, std::string text);
  // `t` with each literal replaced by its base ("a" | "b" -> string,
  // 1 | null -> int | null) and without stream attributes: what operators
  // and methods see.
  TypeId widen_literals(TypeId t);
  // Flattens nested unions, drops Never, dedupes; a single member is itself.
  TypeId union_of(std::vector<TypeId> members);
  TypeId optional_of(TypeId t) { return union_of({t, NUL}); }
  // A union's members in the order they were first written (args are
  // sorted, for identity): what prompts show. Other types: an empty list.
  const std::vector<TypeId>& shown_members(TypeId t) const;
  // `t` without null (for narrowing `x != null`).
  TypeId without_null(TypeId t);
  bool contains_null(TypeId t) const;

  // Can a value of type `from` be stored where `to` is expected? A literal
  // fits its base; its base fits a literal too (scripts' own string, int and
  // bool values are not narrowed: literal types are held at the boundaries,
  // host arguments and parsed model replies, where values are checked).
  bool assignable(TypeId from, TypeId to) const;

  // Names for diagnostics: "int", "string[]", "map<string, int>", "Point", "int | null".
  // NameStyle::Source writes them as source does: unions in the order
  // written, and a union with null as "T?" ("(A | B)?" for several others).
  enum class NameStyle : uint8_t { Diagnostic, Source };
  std::string name(TypeId t, const std::vector<std::string>& class_names, const std::vector<std::string>& enum_names,
                   NameStyle style = NameStyle::Diagnostic) const;

private:
  TypeId intern(Type t);
  bool assignable(TypeId from, TypeId to, std::vector<std::pair<TypeId, TypeId>>& assumed) const;
  bool assignable_now(TypeId from, TypeId to, std::vector<std::pair<TypeId, TypeId>>& assumed) const;
  std::vector<Type> m_types;
  std::vector<std::string> m_alias_names;
  std::vector<TypeId> m_alias_targets; // ANY until set
  std::map<TypeId, std::vector<TypeId>> m_shown; // union -> members as first written
  std::map<std::tuple<int, std::vector<int32_t>, std::string>, TypeId> m_index;
};

} // namespace brake::lang
