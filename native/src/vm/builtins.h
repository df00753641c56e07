// builtins.h: functions and methods provided by the VM (baml.sys.*, array,
// map and string methods). The checker resolves a call to a BuiltinId; the
// compiler emits BUILTIN id argc; the interpreter dispatches here.
#pragma once

#include <cstdint>
#include <string>

#include "vm/value.h"

namespace brake::vm {

#define BRAKE_BUILTINS(X)                                                   \
  /* id, receiver, name, min args, max args (excluding the receiver) */    \
  X(SYS_SLEEP, "baml.sys", "sleep", 1, 1)                                   \
  X(SYS_PANIC, "baml.sys", "panic", 1, 1)                                   \
  X(SYS_CANCELLATION_REQUESTED, "baml.sys", "cancellation_requested", 0, 0) \
  X(DEEP_COPY, "baml", "deep_copy", 1, 1)                                   \
  X(DEEP_EQUALS, "baml", "deep_equals", 2, 2)                               \
  X(ARRAY_LENGTH, "array", "length", 0, 0)                                  \
  X(ARRAY_PUSH, "array", "push", 1, 1)                                      \
  X(ARRAY_AT, "array", "at", 1, 1)                                          \
  X(ARRAY_POP, "array", "pop", 0, 0)                                        \
  X(ARRAY_INCLUDES, "array", "includes", 1, 1)                              \
  X(ARRAY_JOIN, "array", "join", 1, 1)                                      \
  X(MAP_LENGTH, "map", "length", 0, 0)                                      \
  X(MAP_HAS, "map", "has", 1, 1)                                            \
  X(MAP_KEYS, "map", "keys", 0, 0)                                          \
  X(MAP_VALUES, "map", "values", 0, 0)                                      \
  X(STRING_LENGTH, "string", "length", 0, 0)                                \
  X(STRING_TO_LOWER, "string", "toLowerCase", 0, 0)                         \
  X(STRING_TO_UPPER, "string", "toUpperCase", 0, 0)                         \
  X(STRING_TRIM, "string", "trim", 0, 0)                                    \
  X(STRING_INCLUDES, "string", "includes", 1, 1)                            \
  X(STRING_STARTS_WITH, "string", "startsWith", 1, 1)                       \
  X(STRING_ENDS_WITH, "string", "endsWith", 1, 1)                           \
  X(STRING_SPLIT, "string", "split", 1, 1)                                  \
  X(STRING_REPLACE, "string", "replace", 2, 2)                              \
  X(STRING_SUBSTRING, "string", "substring", 1, 2)                          \
  X(STRING_INDEX_OF, "string", "indexOf", 1, 1)

enum class BuiltinId : uint16_t {
#define BRAKE_BUILTIN_ENUM_(id, recv, name, lo, hi) id,
  BRAKE_BUILTINS(BRAKE_BUILTIN_ENUM_)
#undef BRAKE_BUILTIN_ENUM_
  COUNT_
};

struct BuiltinInfo {
  const char* receiver; // "baml.sys", "baml", "array", "map", "string"
  const char* name;
  uint8_t min_args, max_args;
};
extern const BuiltinInfo kBuiltins[];

// Looks up receiver kind + method name; returns COUNT_ when there is none.
BuiltinId find_builtin(const std::string& receiver, const std::string& name);

} // namespace brake::vm
