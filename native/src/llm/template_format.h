// template_format.h: how templates write values as text: `{{ v }}` (BAML's
// display forms), the serialisations of the `format` and `tojson` filters
// (JSON, YAML, TOON), number forms, and Python's format specification
// ("{:,}".format(n)). Internal to llm/template*; pure functions of a value
// and the program that declares its classes and enums.
//
// Every writer here walks nested values recursively: a value nested deeper
// than kMaxValueDepth (or a cyclic one) is a FormatError, never a native
// stack overflow. Writers tick a CancelCheck as they go (may throw
// vm::Interrupted).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "llm/prompt.h"
#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::llm::tmpl {

constexpr int kMaxValueDepth = 128;

// A value a writer cannot write (too deep, a NaN in JSON, a bad option).
class FormatError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- numbers

// As a template prints a float: the shortest digits that read back the
// same, never an exponent, ".0" on whole numbers (1.0, 0.1, 1e21 in full).
void append_float_display(std::string& out, double d);
// As serialisers (JSON, YAML) and nested values write a float: the shortest
// digits, ".0" on whole numbers, an exponent below 1e-4 and from 1e16 on
// (1e16, 1.5e-7). Non-finite: NaN, inf, -inf.
void append_float_repr(std::string& out, double d);
// TOON's canonical number: no exponent, whole numbers without a fraction,
// -0 as 0.
void append_float_canonical(std::string& out, double d);

// ---------------------------------------------------------------- media

// Whether `v` is an instance of one of the media classes.
bool is_media(const vm::CompiledProgram& p, vm::Value v);
// The media an instance holds.
Media media_of(const vm::CompiledProgram& p, const vm::InstanceObj* m);
// BAML's magic string for a media value (what a bare Jinja environment prints).
void append_media_magic(std::string& out, const vm::CompiledProgram& p, const vm::InstanceObj* m);

// ---------------------------------------------------------------- display

// Receives the media met while displaying (instead of the magic string):
// the renderer turns them into message parts at the current text offset.
class MediaHook {
public:
  virtual void media(const vm::InstanceObj* m) = 0;

protected:
  ~MediaHook() = default;
};

// Appends `v` as `{{ v }}` shows it: strings as they are, null as `null`,
// floats per append_float_display, enums by their shown name, lists as
// `[1, "a", null]`, maps as `{"k": 1}`, class instances in the multi-line
// form (4-space indents, trailing commas, @alias names), media through
// `hook` (or as the magic string when it is null).
void append_display(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc,
                    MediaHook* hook = nullptr);

// Appends `v` as baml.unstable.string shows it (BAML's pretty printer): a
// class instance as `Name {` with one `field: value` line per field, 4
// spaces deeper, then `}`; a map likewise without a name and with quoted
// keys; a list on one line, `[a, b]`; strings quoted; floats per
// append_float_repr. FormatError when nested too deep (or cyclic); the text
// is charged to `heap` while it is built (MemoryLimitExceeded), then given back.
void append_pretty(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc, vm::Heap& heap);

// Appends a string as a quoted, escaped literal (how strings show inside lists).
void append_quoted(std::string& out, std::string_view s);

// ---------------------------------------------------------------- serialisations

// JSON with aliases (class fields by shown name, enums by shown name, media
// as the magic string). indent < 0: minified; otherwise pretty with that
// many spaces. html_safe escapes < > & ' (tojson).
void append_json(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc, int indent = -1,
                 bool html_safe = false);

// YAML in block style (as serde_yaml writes it: a newline after the last line).
void append_yaml(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc);

struct ToonOptions {
  size_t indent = 2;
  char delimiter = ','; // ',', '\t' or '|'
  std::string length_marker; // one character (UTF-8) or empty
};
// TOON (Token-Oriented Object Notation): indentation for objects, inline
// primitive arrays, tabular arrays of uniform objects, `- ` list items
// otherwise. No newline after the last line.
void append_toon(std::string& out, const vm::CompiledProgram& p, vm::Value v, vm::CancelCheck& cc,
                 const ToonOptions& options);

// ---------------------------------------------------------------- Python's format spec

// One argument of "...".format(...), as the spec sees it.
struct FormatArg {
  enum class Kind : uint8_t { Int, Float, Bool, Text } kind = Kind::Text;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string_view text; // Text: the value's display form
};
// Appends `arg` formatted by `spec` ([[fill]align][sign][#][0][width][,|_][.precision][type]);
// false with `error` when the spec is malformed or does not fit the value.
bool append_format_spec(std::string& out, const FormatArg& arg, std::string_view spec, std::string& error);

} // namespace brake::llm::tmpl
