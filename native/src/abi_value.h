// abi_value.h: the definition behind the opaque brake_value of brake.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "brake.h"

struct brake_value {
  brake_kind kind = BRAKE_KIND_NULL;
  union {
    int b;
    int64_t i;
    double f;
  };
  std::string text;      // STRING bytes; ENUM variant name
  std::string type_name; // INSTANCE class; ENUM enum
  std::vector<std::unique_ptr<brake_value>> items; // ARRAY elements; MAP/INSTANCE values
  std::vector<std::string> keys;                   // MAP/INSTANCE keys, parallel to items

  brake_value() : i(0) {}
  explicit brake_value(brake_kind k) : kind(k), i(0) {}
};

// A value written as JSON (brake_engine_parse_json).
struct brake_json {
  std::string text;
  std::string classes; // each object's class name ("" for a map) and '\n', in pre-order
  bool any_instance = false;
};

namespace brake {
using ValuePtr = std::unique_ptr<brake_value>;
ValuePtr clone_value(const brake_value& v);
} // namespace brake
