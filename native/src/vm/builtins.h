// builtins.h: functions and methods provided by the VM (baml.sys.*, array,
// map and string methods). The checker resolves a call to a BuiltinId; the
// compiler emits BUILTIN id argc; the interpreter dispatches here.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lang/ast.h"

#include "vm/value.h"

namespace brake::vm {

// The one table of builtins: what the checker types calls by, what the
// interpreter dispatches on, what the runtime checks arguments against.
//   X(id, receiver, name, min args, signature, flags)
// receiver: "baml.sys", "baml.http", "baml" and "env" are namespaces; "array",
// "map", "string", "int", "float", "bool" and "Response" (baml.http.Response) are method receivers,
// whose signature starts with `self`.
// baml.llm.parse is what `F.parse(text)` compiles to (the checker passes
// F's index and types the result as F's return type).
// The signature is BAML, with type variables: T is an array receiver's
// element type (or, for a function, the type of the argument it first meets),
// V a map receiver's value type; `any` takes anything, `never` does not
// return. min args: how many of the parameters after `self` are required.
#define BRAKE_BUILTINS(X)                                                                                          \
  X(SYS_SLEEP, "baml.sys", "sleep", 1, "(ms: int) -> null", kSuspends)                                              \
  X(SYS_PANIC, "baml.sys", "panic", 1, "(message: string) -> never", 0)                                           \
  X(SYS_CANCELLATION_REQUESTED, "baml.sys", "cancellation_requested", 0, "() -> bool", 0)                         \
  X(SYS_SHELL, "baml.sys", "shell", 1, "(command: string) -> string", kSuspends)                                   \
  X(HTTP_FETCH, "baml.http", "fetch", 1, "(url: string, options: any) -> Response", kSuspends)                    \
  X(ENV_GET, "env", "get", 1, "(name: string) -> string?", 0)                                                    \
  X(ENV_GET_OR_PANIC, "env", "get_or_panic", 1, "(name: string) -> string", 0)                                    \
  X(DEEP_COPY, "baml", "deep_copy", 1, "(value: T) -> T", 0)                                                      \
  X(DEEP_EQUALS, "baml", "deep_equals", 2, "(a: any, b: any) -> bool", 0)                                         \
  X(UNSTABLE_STRING, "baml.unstable", "string", 1, "(value: any) -> string", 0)                                   \
  X(LLM_PARSE, "baml.llm", "parse", 2, "(fn: int, text: string) -> any", 0)                                  \
  X(ARRAY_LENGTH, "array", "length", 0, "(self: T[]) -> int", 0)                                                  \
  X(ARRAY_PUSH, "array", "push", 1, "(self: T[], item: T) -> null", kMutates)                                          \
  X(ARRAY_AT, "array", "at", 1, "(self: T[], index: int) -> T?", 0)                                               \
  X(ARRAY_POP, "array", "pop", 0, "(self: T[]) -> T?", kMutates)                                                       \
  X(ARRAY_INCLUDES, "array", "includes", 1, "(self: T[], item: T) -> bool", 0)                                    \
  X(ARRAY_JOIN, "array", "join", 1, "(self: string[], separator: string) -> string", 0)                           \
  X(MAP_LENGTH, "map", "length", 0, "(self: map<string, V>) -> int", 0)                                           \
  X(MAP_HAS, "map", "has", 1, "(self: map<string, V>, key: string) -> bool", 0)                                   \
  X(MAP_KEYS, "map", "keys", 0, "(self: map<string, V>) -> string[]", 0)                                          \
  X(MAP_VALUES, "map", "values", 0, "(self: map<string, V>) -> V[]", 0)                                           \
  X(STRING_LENGTH, "string", "length", 0, "(self: string) -> int", 0)                                             \
  X(STRING_TO_LOWER, "string", "toLowerCase", 0, "(self: string) -> string", 0)                                   \
  X(STRING_TO_UPPER, "string", "toUpperCase", 0, "(self: string) -> string", 0)                                   \
  X(STRING_TRIM, "string", "trim", 0, "(self: string) -> string", 0)                                              \
  X(STRING_INCLUDES, "string", "includes", 1, "(self: string, part: string) -> bool", 0)                          \
  X(STRING_STARTS_WITH, "string", "startsWith", 1, "(self: string, prefix: string) -> bool", 0)                   \
  X(STRING_ENDS_WITH, "string", "endsWith", 1, "(self: string, suffix: string) -> bool", 0)                       \
  X(STRING_SPLIT, "string", "split", 1, "(self: string, separator: string) -> string[]", 0)                       \
  X(STRING_REPLACE, "string", "replace", 2, "(self: string, from: string, to: string) -> string", 0)              \
  X(STRING_SUBSTRING, "string", "substring", 1, "(self: string, start: int, end: int) -> string", 0)              \
  X(STRING_INDEX_OF, "string", "indexOf", 1, "(self: string, part: string) -> int", 0)                           \
  X(INT_TO_STRING, "int", "to_string", 0, "(self: int) -> string", 0)                                            \
  X(FLOAT_TO_STRING, "float", "to_string", 0, "(self: float) -> string", 0)                                      \
  X(BOOL_TO_STRING, "bool", "to_string", 0, "(self: bool) -> string", 0)                                         \
  X(RESPONSE_OK, "Response", "ok", 0, "(self: Response) -> bool", 0)                                              \
  X(RESPONSE_TEXT, "Response", "text", 0, "(self: Response) -> string", 0)                                        \
  X(RESPONSE_JSON, "Response", "json", 0, "(self: Response) -> any", 0)                                          \
  X(TASK_SPAWN, "baml.$task", "spawn", 3, "(fn: any, token: any, detached: bool) -> any", 0)                       \
  X(TASK_AWAIT, "baml.$task", "await", 1, "(future: any) -> any", kSuspends)                                      \
  X(FUTURE_ALL, "baml.future", "all", 1, "(futures: Future<T>[]) -> T[]", kSuspends)                              \
  X(FUTURE_ANY, "baml.future", "any", 1, "(futures: Future<T>[]) -> T", kSuspends)                                \
  X(FUTURE_RACE, "baml.future", "race", 1, "(futures: Future<T>[]) -> T", kSuspends)                              \
  X(FUTURE_ALL_SETTLED, "baml.future", "all_settled", 1, "(futures: Future<T>[]) -> Future<T>[]", kSuspends)      \
  X(FUTURE_WITH_TIMEOUT, "baml.future", "with_timeout", 2, "(ms: int, fn: any) -> any", kSuspends)                \
  X(FUTURE_CANCEL, "Future", "cancel", 0, "(self: Future<T>) -> bool", 0)                                          \
  X(FUTURE_IS_SETTLED, "Future", "is_settled", 0, "(self: Future<T>) -> bool", 0)                                  \
  X(FUTURE_IS_CANCELLED, "Future", "is_cancelled", 0, "(self: Future<T>) -> bool", 0)                              \
  X(FUTURE_IS_RESULT, "Future", "is_result", 0, "(self: Future<T>) -> bool", 0)                                    \
  X(FUTURE_IS_ERROR, "Future", "is_error", 0, "(self: Future<T>) -> bool", 0)                                      \
  X(TASK_GROUP_NEW, "baml.spawn.TaskGroup", "new", 1, "(limit: int) -> TaskGroup", 0)                             \
  X(TASK_GROUP_SPAWN, "TaskGroup", "spawn", 1, "(self: TaskGroup, fn: any) -> any", kSuspends)                    \
  X(TASK_GROUP_CANCEL, "TaskGroup", "cancel", 0, "(self: TaskGroup) -> null", 0)                                   \
  X(TOKEN_NEW, "baml.spawn.CancelToken", "new", 0, "() -> CancelToken", 0)                                         \
  X(TOKEN_ANY, "baml.spawn.CancelToken", "any", 1, "(tokens: CancelToken[]) -> CancelToken", 0)                  \
  X(TOKEN_CANCEL, "CancelToken", "cancel", 0, "(self: CancelToken) -> null", 0)                                    \
  X(TOKEN_IS_CANCELLED, "CancelToken", "is_cancelled", 0, "(self: CancelToken) -> bool", 0)

// Builtin flags.
constexpr uint8_t kSuspends = 1; // may suspend its call (returns BuiltinResult::Kind::Suspend)
constexpr uint8_t kMutates = 2;  // changes its receiver (watched variables that reach it are reported)

enum class BuiltinId : uint16_t {
#define BRAKE_BUILTIN_ENUM_(id, recv, name, min, sig, flags) id,
  BRAKE_BUILTINS(BRAKE_BUILTIN_ENUM_)
#undef BRAKE_BUILTIN_ENUM_
  COUNT_
};

struct BuiltinInfo {
  const char* receiver; // "baml.sys", "baml", "array", "map", "string"
  const char* name;
  uint8_t min_args;      // required arguments after the receiver
  const char* signature; // see BRAKE_BUILTINS
  uint8_t flags;
  bool is_method() const { return std::strncmp(receiver, "baml", 4) != 0 && std::strcmp(receiver, "env") != 0; }
};
extern const BuiltinInfo kBuiltins[];

// Looks up receiver kind + method name; returns COUNT_ when there is none.
BuiltinId find_builtin(const std::string& receiver, const std::string& name);

// A builtin's signature, parsed once from the table (thread-safe).
struct BuiltinSignature {
  lang::TypeExprPtr self;           // methods: the receiver's type, else null
  std::vector<lang::Param> params;  // after `self`
  lang::TypeExprPtr result;
  // For each parameter, the one tag an argument must have (-1: any), for
  // the run-time check of values whose static type was unknown.
  std::vector<int> arg_tags;
  // Methods: the tag the receiver must have (its kBuiltins receiver's).
  int self_tag = -1;
};
const BuiltinSignature& builtin_signature(BuiltinId id);

} // namespace brake::vm
