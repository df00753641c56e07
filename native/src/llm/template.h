// template.h: BAML's prompt templates (the Jinja subset BAML prompts use),
// compiled once and rendered per call.
//
// Invariants:
// - A Template is immutable once compiled and holds no per-call state: one
//   compiled template is shared by every call on every thread.
// - compile_template reports every error it finds (syntax, unknown variable,
//   unknown or wrongly called template_string, unknown filter or test) at
//   its real line and column in the file, and returns null when there was
//   any.
// - Rendering runs on the call's thread, against the call's heap:
//   temporaries are charged to it (and may throw vm::MemoryLimitExceeded);
//   the text being built is charged too while rendering runs, and given
//   back when it returns. No collection runs while a template renders, so
//   nothing needs rooting. Loops, joins and serialisations look at the
//   call's cancel state as they go and throw vm::Interrupted once a cancel
//   was asked for.
// - A script-level failure (a filter given the wrong type, role() with two
//   roles, a failed output_format) is a RenderError whose message says what
//   went wrong and where (line and column in the file).
//
// The language, as BAML gives it (minijinja with trim_blocks and
// lstrip_blocks, plus BAML's own objects):
//   {{ expr }}  {% if %}/{% elif %}/{% else %}/{% endif %}
//   {% for x in xs [if cond] %}/{% else %}/{% endfor %} (loop.index, index0,
//   revindex, revindex0, first, last, length, previtem, nextitem, cycle())
//   {% set x = expr %}  {% set ns.attr = expr %}  {% set x %}...{% endset %}
//   {% break %} {% continue %} {% raw %}...{% endraw %} {# comment #}
//   whitespace control {%- -%} {{- -}} {#- -#} and {%+ +%}
//   _.role("user") / _.chat(role="user", __baml_allow_dupe_role__=true, ...)
//   ctx.output_format, ctx.output_format(prefix=..., ...), ctx.client.name,
//   ctx.client.provider, ctx.tags.NAME, template_string calls Name(args),
//   Enum.Variant for the enums named in the scope.
// Prompt whitespace: the text is dedented (the smallest indentation of its
// non-blank lines is removed from every line) and trimmed before parsing
// (TemplateWhitespace::DedentAndTrim), as BAML does for prompts.
//
// Values show as BAML shows them: null as `null`, lists as `[1, "a", null]`,
// maps as `{"k": 1}`, class instances in the multi-line JSON-like form with
// 4-space indents, trailing commas and @alias names, enums by @alias (but
// compared by variant name), media as message parts (or, in text, as BAML's
// magic media string). Attributes are read by field name (not @alias); a
// missing attribute, key or index is undefined (prints nothing), reading
// from undefined is a render error.
//
// Differences from BAML (minijinja) worth knowing:
// - Role calls and media reach the prompt as messages and parts only when
//   output directly ({{ x }}, {{ _.role(..) }}, {{ Template(..) }}); a text
//   built from them first ({% set %} blocks, `~`, |string, a template_string
//   used inside an expression) holds their magic strings, which are not
//   parsed back (so an argument's text can never forge a role or a media).
// - null prints as `null` everywhere (BAML prints `none` inside maps and
//   after `~`); upper/lower/title change ASCII letters only.
// - Not supported: macros, call/filter blocks, include/import/extends,
//   recursive loops, loop.changed(), tuple assignment in {% set %}.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lang/diagnostics.h"
#include "llm/prompt.h"
#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::llm {

// What a template may name at compile time.
struct TemplateScope {
  std::vector<std::string> variables; // the function's (or template_string's) parameters
  std::vector<std::pair<std::string, size_t>> template_strings; // name, parameter count
  std::vector<std::string> enums; // enums usable as Enum.Variant (may be empty)
  // What a name that is none of the above is: a compile error (BAML's own
  // check of prompts), or undefined when rendered (a bare Jinja
  // environment, for hosts rendering ad-hoc templates against ad-hoc
  // arguments).
  enum class UnknownNames : uint8_t { Error, Undefined } unknown_names = UnknownNames::Error;
};

// Compiled, immutable, shared by every call on every thread.
class Template;

enum class TemplateWhitespace : uint8_t {
  DedentAndTrim, // BAML prompts (and template_strings): dedent, then trim the whole text
  Keep,          // the text as written (plain Jinja)
};

// Parses `text` (which starts at `at` in the file), reports every error to
// `diags` at its real line/column, returns null on error.
std::shared_ptr<const Template> compile_template(std::string_view text, lang::SourceLoc at, const TemplateScope& scope,
                                                 lang::Diagnostics& diags,
                                                 TemplateWhitespace whitespace = TemplateWhitespace::DedentAndTrim);

// The client a prompt is rendered for (ctx.client, and the role rules).
struct ClientContext {
  std::string name, provider;
  std::string default_role;               // the role of text before any role call, and of a completion
  std::vector<std::string> allowed_roles; // empty: any role; otherwise other roles become default_role
  std::vector<std::pair<std::string, std::string>> remap_roles; // applied last: from, to
};

struct TemplateStringDef {
  std::string name;
  std::vector<std::string> params;
  std::shared_ptr<const Template> body; // compiled with `params` as its variables
};

struct RenderInput {
  const vm::CompiledProgram* program = nullptr; // classes and enums of the values
  vm::Heap* heap = nullptr;
  const std::atomic<uint32_t>* cancel_state = nullptr; // may be null
  // The arguments, by name (a template variable with no argument is undefined).
  const std::string* names = nullptr;
  const vm::Value* values = nullptr;
  size_t count = 0;
  const ClientContext* client = nullptr; // may be null (no ctx.client; default role "user")
  // ctx.output_format and ctx.output_format(k=v, ...): appends the text for
  // the given keyword arguments, or returns false with `error`. May be
  // empty (ctx.output_format renders nothing).
  std::function<bool(const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out, std::string& error)>
      output_format;
  const std::vector<TemplateStringDef>* template_strings = nullptr;    // may be null
  const std::vector<std::pair<std::string, std::string>>* tags = nullptr; // ctx.tags, may be null
};

class RenderError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// What a rendered chat message carries beyond prompt.h's shape, one per
// message of the RenderedPrompt (see render_template).
struct MessageOptions {
  bool allow_duplicate_role = false; // _.role(..., __baml_allow_dupe_role__=true)
  std::string meta_json;             // the role call's other keyword arguments as a JSON object, or ""
};

// Renders the prompt.
// - No role call and no media: a completion (chat = false): one message
//   with the client's default role holding the text exactly as rendered
//   (one text part, possibly empty).
// - Otherwise chat = true: the text is split at each role call; the text
//   before the first one, if any, gets the default role. Each message's
//   text between media is trimmed, empty text dropped, and a message left
//   with no parts dropped. A role outside the client's allowed_roles (when
//   it has any) becomes its default_role; remap_roles renames last.
//   Consecutive messages of the same role stay separate.
// `options`, when given, receives one entry per message.
// Throws RenderError, vm::Interrupted, vm::MemoryLimitExceeded.
RenderedPrompt render_template(const Template& t, const RenderInput& in, std::vector<MessageOptions>* options = nullptr);

// Renders to plain text, as a bare Jinja environment would: media values
// and role calls are written as BAML's magic strings
// (BAML_MEDIA_MAGIC_STRING_DELIMITER:baml-start-media:{...}:baml-end-media:...).
// Throws as render_template.
std::string render_template_text(const Template& t, const RenderInput& in);

// The text form of one value as `{{ v }}` shows it (media as the magic
// string). Throws vm::Interrupted, and RenderError for a value nested
// deeper than 128 levels (or cyclic).
std::string display_value(const vm::CompiledProgram& program, vm::Value v,
                          const std::atomic<uint32_t>* cancel_state = nullptr);

} // namespace brake::llm
