// jsonish_dump.h: a jsonish node tree written out with everything coercion
// reads from it, for comparing two parsers' trees (sap_test, sap_fuzz).
#pragma once

#include <string>

#include "schema/jsonish.h"

inline std::string jsonish_dump(const brake::schema::jsonish::Document& doc, const brake::schema::jsonish::Node& n) {
  std::string out = "(" + std::to_string(int(n.kind)) + (n.boolean ? "t" : "f") + (n.complete ? "c" : "o") +
                    std::to_string(n.fixes) + " k=" + std::string(n.key) + " t=" + std::string(n.text) +
                    " s=" + std::string(n.source);
  for (size_t i = 0; i < n.count; i++) out += " " + jsonish_dump(doc, doc.child(n, i));
  return out + ")";
}
