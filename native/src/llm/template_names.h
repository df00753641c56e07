// template_names.h: the filters and tests templates may name (one X-macro
// list each, shared by the parser, which refuses other names, and the
// evaluator).
#pragma once

#include <cstdint>
#include <string_view>

namespace brake::llm::tmpl {

// FILTER(enum name, template name)
#define BRAKE_TEMPLATE_FILTERS(FILTER) \
  FILTER(Abs, "abs")                   \
  FILTER(Attr, "attr")                 \
  FILTER(Bool, "bool")                 \
  FILTER(Capitalize, "capitalize")     \
  FILTER(Count, "count")               \
  FILTER(Default, "default")           \
  FILTER(D, "d")                       \
  FILTER(Dictsort, "dictsort")         \
  FILTER(Escape, "escape")             \
  FILTER(E, "e")                       \
  FILTER(First, "first")               \
  FILTER(Float, "float")               \
  FILTER(Format, "format")             \
  FILTER(Indent, "indent")             \
  FILTER(Int, "int")                   \
  FILTER(Items, "items")               \
  FILTER(Join, "join")                 \
  FILTER(Last, "last")                 \
  FILTER(Length, "length")             \
  FILTER(List, "list")                 \
  FILTER(Lower, "lower")               \
  FILTER(Map, "map")                   \
  FILTER(Max, "max")                   \
  FILTER(Min, "min")                   \
  FILTER(RegexMatch, "regex_match")    \
  FILTER(Reject, "reject")             \
  FILTER(Rejectattr, "rejectattr")     \
  FILTER(Replace, "replace")           \
  FILTER(Reverse, "reverse")           \
  FILTER(Round, "round")               \
  FILTER(Safe, "safe")                 \
  FILTER(Select, "select")             \
  FILTER(Selectattr, "selectattr")     \
  FILTER(Sort, "sort")                 \
  FILTER(Split, "split")               \
  FILTER(String, "string")             \
  FILTER(Sum, "sum")                   \
  FILTER(Title, "title")               \
  FILTER(Tojson, "tojson")             \
  FILTER(Trim, "trim")                 \
  FILTER(Unique, "unique")             \
  FILTER(Upper, "upper")               \
  FILTER(Wordcount, "wordcount")

// TEST(enum name, template name)
#define BRAKE_TEMPLATE_TESTS(TEST)       \
  TEST(Defined, "defined")               \
  TEST(Undefined, "undefined")           \
  TEST(None, "none")                     \
  TEST(True, "true")                     \
  TEST(False, "false")                   \
  TEST(Boolean, "boolean")               \
  TEST(String, "string")                 \
  TEST(Number, "number")                 \
  TEST(Integer, "integer")               \
  TEST(Float, "float")                   \
  TEST(Mapping, "mapping")               \
  TEST(Sequence, "sequence")             \
  TEST(Iterable, "iterable")             \
  TEST(Odd, "odd")                       \
  TEST(Even, "even")                     \
  TEST(Divisibleby, "divisibleby")       \
  TEST(Eq, "eq")                         \
  TEST(Equalto, "equalto")               \
  TEST(EqSym, "==")                      \
  TEST(Ne, "ne")                         \
  TEST(NeSym, "!=")                      \
  TEST(Lt, "lt")                         \
  TEST(Lessthan, "lessthan")             \
  TEST(LtSym, "<")                       \
  TEST(Le, "le")                         \
  TEST(LeSym, "<=")                      \
  TEST(Gt, "gt")                         \
  TEST(Greaterthan, "greaterthan")       \
  TEST(GtSym, ">")                       \
  TEST(Ge, "ge")                         \
  TEST(GeSym, ">=")                      \
  TEST(In, "in")                         \
  TEST(Sameas, "sameas")                 \
  TEST(Startingwith, "startingwith")     \
  TEST(Endingwith, "endingwith")         \
  TEST(Containing, "containing")         \
  TEST(Lower, "lower")                   \
  TEST(Upper, "upper")

enum class Filter : uint8_t {
#define BRAKE_FILTER_ENUM(e, name) e,
  BRAKE_TEMPLATE_FILTERS(BRAKE_FILTER_ENUM)
#undef BRAKE_FILTER_ENUM
  COUNT_
};

enum class Test : uint8_t {
#define BRAKE_TEST_ENUM(e, name) e,
  BRAKE_TEMPLATE_TESTS(BRAKE_TEST_ENUM)
#undef BRAKE_TEST_ENUM
  COUNT_
};

// The enum value whose name (in `names`, in enum order) is `name`.
template <typename E, size_t N> bool from_name(const std::string_view (&names)[N], std::string_view name, E& out) {
  for (size_t i = 0; i < N; i++)
    if (names[i] == name) {
      out = E(i);
      return true;
    }
  return false;
}

inline bool filter_from_name(std::string_view name, Filter& out) {
  static constexpr std::string_view kNames[] = {
#define BRAKE_FILTER_NAME(e, name) name,
      BRAKE_TEMPLATE_FILTERS(BRAKE_FILTER_NAME)
#undef BRAKE_FILTER_NAME
  };
  return from_name(kNames, name, out);
}

inline bool test_from_name(std::string_view name, Test& out) {
  static constexpr std::string_view kNames[] = {
#define BRAKE_TEST_NAME(e, name) name,
      BRAKE_TEMPLATE_TESTS(BRAKE_TEST_NAME)
#undef BRAKE_TEST_NAME
  };
  return from_name(kNames, name, out);
}

} // namespace brake::llm::tmpl
