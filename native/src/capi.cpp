// capi.cpp: brake.h over the internals. Checks arguments, catches every C++
// exception at the boundary and turns failures into a status plus a
// per-thread message (brake_last_error).
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

#include "common/utf8.h"
#include "json/json.h"
#include "abi_value.h"
#include "brake.h"
#include "runtime/call_stream.h"
#include "runtime/engine.h"
#include "runtime/token.h"
#include "vm/chunk.h"

char* brake_internal_dup_string(const std::string& s); // capi_values.cpp

namespace brake {
namespace {
thread_local std::string t_last_error;
} // namespace
void set_last_error(const std::string& message) { t_last_error = message; }
} // namespace brake

struct brake_program {
  std::shared_ptr<brake::vm::CompiledProgram> program;
  // The declared functions' signature texts, made on first request (most
  // hosts never ask; a big program's would cost its compile time).
  mutable std::once_flag signatures_made;
  mutable std::vector<std::string> signatures;
};

struct brake_engine {
  std::unique_ptr<brake::runtime::Engine> engine;
};

using brake::set_last_error;

namespace {

int fail(int status, const std::string& message) {
  set_last_error(message);
  return status;
}

// Runs `fn` turning exceptions into statuses.
template <typename Fn> int guarded(Fn fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail(BRAKE_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(BRAKE_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(BRAKE_INTERNAL, "internal error");
  }
}

// Copies the caller's options struct (`min_size`: the bytes every version
// of it had) over `out`'s defaults and checks their timeout_ms.
template <typename Options>
int read_host_options(const Options* in, Options& out, size_t min_size, const char* init) {
  if (in) {
    if (in->struct_size < min_size || in->struct_size > sizeof out)
      return fail(BRAKE_INVALID_ARGUMENT, std::string("options.struct_size is wrong (use ") + init + ")");
    std::memcpy(&out, in, in->struct_size);
  }
  if (out.timeout_ms > BRAKE_MAX_TIMEOUT_MS)
    return fail(BRAKE_INVALID_ARGUMENT, "timeout_ms must be from 0 (none) to " + std::to_string(BRAKE_MAX_TIMEOUT_MS));
  return BRAKE_OK;
}

// Runs one of the engine's host-side helpers that make a value (render_prompt, parse).
template <typename Run> int host_value(brake_value** out, Run run) {
  return guarded([&] {
    std::string message;
    brake::ValuePtr value;
    int status = run(value, message);
    if (status != BRAKE_OK) return fail(status, message);
    *out = value.release();
    return int(BRAKE_OK);
  });
}

const char* const kStatusNames[] = {
#define BRAKE_STATUS_NAME_(name, value, message) #name,
    BRAKE_STATUS_MAP(BRAKE_STATUS_NAME_)
#undef BRAKE_STATUS_NAME_
};
const char* const kStatusMessages[] = {
#define BRAKE_STATUS_MESSAGE_(name, value, message) message,
    BRAKE_STATUS_MAP(BRAKE_STATUS_MESSAGE_)
#undef BRAKE_STATUS_MESSAGE_
};

} // namespace

extern "C" {

const char* brake_version(void) { return BRAKE_VERSION_STRING; }
int brake_version_number(void) { return BRAKE_VERSION_NUMBER; }

const char* brake_status_name(int status) {
  return status >= 0 && status < BRAKE_STATUS_COUNT_ ? kStatusNames[status] : "UNKNOWN";
}
const char* brake_status_message(int status) {
  return status >= 0 && status < BRAKE_STATUS_COUNT_ ? kStatusMessages[status] : "unknown status";
}
const char* brake_last_error(void) { return brake::t_last_error.c_str(); }

// ---------------------------------------------------------------- programs

void brake_compile_options_init(brake_compile_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

int brake_program_compile_with(const char* source, size_t len, const char* file_name,
                               const brake_compile_options* options, brake_program** out) {
  if (!out) return fail(BRAKE_MISUSE, "out is NULL");
  *out = nullptr;
  if (!source && len) return fail(BRAKE_MISUSE, "source is NULL");
  brake_compile_options opts;
  brake_compile_options_init(&opts);
  if (options) {
    if (options->struct_size < sizeof(uint32_t) || options->struct_size > sizeof opts)
      return fail(BRAKE_INVALID_ARGUMENT, "options.struct_size is wrong (use brake_compile_options_init)");
    std::memcpy(&opts, options, options->struct_size);
  }
  if (opts.host_function_count && !opts.host_functions)
    return fail(BRAKE_INVALID_ARGUMENT, "options.host_functions is NULL");
  for (size_t i = 0; i < opts.host_function_count; i++)
    if (!opts.host_functions[i].name || !opts.host_functions[i].signature)
      return fail(BRAKE_INVALID_ARGUMENT, "host function " + std::to_string(i) + " has a NULL name or signature");
  return guarded([&] {
    std::vector<brake::vm::HostDeclaration> host;
    for (size_t i = 0; i < opts.host_function_count; i++)
      host.push_back({opts.host_functions[i].name, opts.host_functions[i].signature});
    auto p = std::make_unique<brake_program>();
    p->program = brake::vm::compile_program(std::string_view(source ? source : "", len),
                                            file_name ? file_name : "<source>", host);
    const auto& diags = p->program->diagnostics;
    *out = p.release();
    if (diags.empty()) return int(BRAKE_OK);
    const auto& d = diags.items()[0];
    return fail(BRAKE_COMPILE_ERROR, d.file + ":" + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) +
                                         ": " + d.message + (diags.size() > 1 ? " (and " + std::to_string(diags.size() - 1) + " more)" : ""));
  });
}

int brake_program_compile(const char* source, size_t len, const char* file_name, brake_program** out) {
  return brake_program_compile_with(source, len, file_name, nullptr, out);
}

void brake_program_free(brake_program* p) { delete p; }

size_t brake_program_diagnostic_count(const brake_program* p) { return p ? p->program->diagnostics.size() : 0; }

int brake_program_diagnostic(const brake_program* p, size_t i, const char** file, uint32_t* line, uint32_t* column,
                             const char** message) {
  if (!p || i >= p->program->diagnostics.size()) return fail(BRAKE_MISUSE, "no such diagnostic");
  const auto& d = p->program->diagnostics.items()[i];
  if (file) *file = d.file.c_str();
  if (line) *line = d.loc.line;
  if (column) *column = d.loc.column;
  if (message) *message = d.message.c_str();
  return BRAKE_OK;
}

size_t brake_program_function_count(const brake_program* p) {
  return p && p->program->diagnostics.empty() ? p->program->declared_functions : 0;
}
const char* brake_program_function_name(const brake_program* p, size_t i) {
  return i < brake_program_function_count(p) ? p->program->functions[i].name.c_str() : nullptr;
}
size_t brake_program_function_param_count(const brake_program* p, size_t i) {
  return i < brake_program_function_count(p) ? p->program->functions[i].arity : 0;
}
const char* brake_program_function_signature(const brake_program* p, size_t i) {
  if (i >= brake_program_function_count(p)) return nullptr;
  try {
    std::call_once(p->signatures_made, [p] {
      const brake::vm::CompiledProgram& program = *p->program;
      std::vector<std::string> out;
      for (size_t f = 0; f < program.declared_functions; f++) {
        const auto& fn = program.functions[f];
        std::string sig = "(";
        for (size_t k = 0; k < fn.arity; k++)
          sig += (k ? ", " : "") + fn.param_names[k] + ": " + program.source_type_name(fn.param_types[k]);
        out.push_back(sig + ") -> " + program.source_type_name(fn.return_type));
      }
      p->signatures = std::move(out);
    });
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return i < p->signatures.size() ? p->signatures[i].c_str() : nullptr;
}
int brake_program_function_is_llm(const brake_program* p, size_t i) {
  return i < brake_program_function_count(p) && p->program->functions[i].llm >= 0;
}
int brake_program_describe(const brake_program* p, char** out) {
  if (!out) return fail(BRAKE_MISUSE, "out is NULL");
  *out = nullptr;
  if (!p || !p->program->diagnostics.empty()) return fail(BRAKE_MISUSE, "no program, or a program with errors");
  return guarded([&] {
    const brake::vm::CompiledProgram& program = *p->program;
    std::string j;
    auto str = [&](std::string_view s) { brake::json::append_string(j, s); };
    // Starts an object of a list with its name (a comma before all but the first).
    auto named = [&](bool& first, std::string_view name) {
      j += first ? "{\"name\":" : ",{\"name\":";
      first = false;
      str(name);
    };
    auto field = [&](const char* key, std::string_view value) {
      j += ",\"";
      j += key;
      j += "\":";
      str(value);
    };
    j += "{\"functions\":[";
    bool first = true;
    for (size_t f = 0; f < program.declared_functions; f++) {
      const auto& fn = program.functions[f];
      named(first, fn.name);
      j += ",\"params\":[";
      bool first_param = true;
      for (size_t k = 0; k < fn.arity; k++) {
        named(first_param, fn.param_names[k]);
        field("type", program.source_type_name(fn.param_types[k]));
        j += "}";
      }
      j += "]";
      field("returns", program.source_type_name(fn.return_type));
      j += fn.llm >= 0 ? ",\"llm\":true}" : ",\"llm\":false}";
    }
    j += "],\"classes\":[";
    first = true;
    for (size_t c = 0; c < program.classes.size(); c++) {
      // baml.http.Response and the media classes are the runtime's own.
      if (c == program.response_class || program.media_kind(uint32_t(c)) >= 0) continue;
      const auto& cls = program.classes[c];
      named(first, cls.name);
      j += ",\"fields\":[";
      bool first_field = true;
      for (size_t k = 0; k < cls.field_names.size(); k++) {
        if (cls.field_names[k].rfind('#', 0) == 0) continue; // hidden
        named(first_field, cls.field_names[k]);
        field("type", program.source_type_name(cls.field_types[k]));
        const brake::lang::Attributes* attrs = k < cls.field_attrs.size() ? &cls.field_attrs[k] : nullptr;
        if (attrs && !attrs->alias.empty()) field("alias", attrs->alias);
        if (attrs && !attrs->description.empty()) field("description", attrs->description);
        j += "}";
      }
      j += "]}";
    }
    j += "],\"enums\":[";
    first = true;
    for (const auto& en : program.enums) {
      named(first, en.name);
      j += ",\"variants\":[";
      bool first_variant = true;
      for (size_t v = 0; v < en.variants.size(); v++) {
        named(first_variant, en.variants[v]);
        const brake::lang::Attributes* attrs = v < en.variant_attrs.size() ? &en.variant_attrs[v] : nullptr;
        if (attrs && !attrs->alias.empty()) field("alias", attrs->alias);
        if (attrs && attrs->skip) j += ",\"skip\":true";
        j += "}";
      }
      j += "]}";
    }
    j += "],\"aliases\":[";
    first = true;
    for (size_t a = 0; a < program.types.alias_count(); a++) {
      named(first, program.types.alias_name_at(a));
      field("type", program.source_type_name(program.types.alias_target_at(a)));
      j += "}";
    }
    j += "]}";
    *out = brake_internal_dup_string(j);
    return *out ? int(BRAKE_OK) : fail(BRAKE_NO_MEMORY, "out of memory");
  });
}

const char* brake_program_function_param_name(const brake_program* p, size_t i, size_t param) {
  if (i >= brake_program_function_count(p)) return nullptr;
  const auto& names = p->program->functions[i].param_names;
  return param < names.size() ? names[param].c_str() : nullptr;
}

size_t brake_program_host_function_count(const brake_program* p) {
  return p && p->program->diagnostics.empty() ? p->program->host_functions.size() : 0;
}
const char* brake_program_host_function_name(const brake_program* p, size_t i) {
  return i < brake_program_host_function_count(p) ? p->program->host_functions[i].name.c_str() : nullptr;
}
const char* brake_program_host_function_signature(const brake_program* p, size_t i) {
  return i < brake_program_host_function_count(p) ? p->program->host_functions[i].signature.c_str() : nullptr;
}

int brake_program_disassemble(const brake_program* p, char** out) {
  if (!p || !out) return fail(BRAKE_MISUSE, "NULL argument");
  return guarded([&] {
    *out = brake_internal_dup_string(brake::vm::disassemble(*p->program));
    return *out ? BRAKE_OK : fail(BRAKE_NO_MEMORY, "out of memory");
  });
}

// ---------------------------------------------------------------- tokens

brake_token* brake_token_new(void) { return new (std::nothrow) brake_token(); }
size_t brake_token_cancel(brake_token* t) {
  if (!t) return 0;
  try {
    return brake::runtime::token_cancel(t);
  } catch (...) {
    return 0;
  }
}
int brake_token_is_cancelled(const brake_token* t) { return t && t->cancelled.load() ? 1 : 0; }
void brake_token_free(brake_token* t) {
  if (t) brake::runtime::token_release(t);
}

// ---------------------------------------------------------------- engines

void brake_engine_options_init(brake_engine_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->call_memory_limit = BRAKE_DEFAULT_CALL_MEMORY_LIMIT;
  o->engine_memory_limit = BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT;
  o->http_max_response_bytes = BRAKE_DEFAULT_HTTP_MAX_RESPONSE_BYTES;
}

int brake_engine_create(const brake_program* program, const brake_engine_options* options, brake_engine** out) {
  if (!out) return fail(BRAKE_MISUSE, "out is NULL");
  *out = nullptr;
  if (!program) return fail(BRAKE_MISUSE, "program is NULL");
  if (!program->program->diagnostics.empty()) return fail(BRAKE_MISUSE, "the program has compile errors");
  brake_engine_options opts;
  brake_engine_options_init(&opts);
  if (options) {
    if (options->struct_size < offsetof(brake_engine_options, max_call_depth) || options->struct_size > sizeof opts)
      return fail(BRAKE_INVALID_ARGUMENT, "options.struct_size is wrong (use brake_engine_options_init)");
    std::memcpy(&opts, options, options->struct_size);
  }
  // The same words as lib/engine.ts (checkEngineOptions).
  if (opts.worker_threads > BRAKE_MAX_WORKER_THREADS)
    return fail(BRAKE_INVALID_ARGUMENT, "worker_threads must be an integer from 0 (one per core) to " +
                                            std::to_string(BRAKE_MAX_WORKER_THREADS));
  if (opts.max_call_depth > BRAKE_MAX_CALL_DEPTH)
    return fail(BRAKE_INVALID_ARGUMENT, "max_call_depth must be an integer from 0 (default 1000) to " +
                                            std::to_string(BRAKE_MAX_CALL_DEPTH));
  if (opts.host_function_count && !opts.host_functions)
    return fail(BRAKE_INVALID_ARGUMENT, "options.host_functions is NULL");
  return guarded([&] {
    // Every declared host function bound exactly once, by name.
    const auto& declared = program->program->host_functions;
    std::vector<brake::runtime::HostBinding> host(declared.size());
    for (size_t i = 0; i < opts.host_function_count; i++) {
      const brake_host_binding& b = opts.host_functions[i];
      if (!b.name || !b.call) return fail(BRAKE_INVALID_ARGUMENT, "host binding " + std::to_string(i) + " has a NULL name or call");
      size_t at = 0;
      while (at < declared.size() && declared[at].name != b.name) at++;
      if (at == declared.size())
        return fail(BRAKE_INVALID_ARGUMENT, std::string("host function '") + b.name + "' is not declared by the program");
      if (host[at].call) return fail(BRAKE_INVALID_ARGUMENT, std::string("host function '") + b.name + "' is bound twice");
      host[at] = brake::runtime::HostBinding{b.call, b.cancel, b.user_data};
    }
    for (size_t i = 0; i < declared.size(); i++)
      if (!host[i].call)
        return fail(BRAKE_INVALID_ARGUMENT, "host function '" + declared[i].name + "' is declared but not bound");
    brake::runtime::HttpConfig http;
    http.transport = brake::runtime::HostBinding{opts.http_transport.call, opts.http_transport.cancel,
                                                 opts.http_transport.user_data};
    http.timeout_ms = opts.http_timeout_ms;
    http.max_response_bytes = opts.http_max_response_bytes;
    if (opts.http_allowed_host_count && !opts.http_allowed_hosts)
      return fail(BRAKE_INVALID_ARGUMENT, "options.http_allowed_hosts is NULL");
    if (opts.http_allowed_hosts) http.policy.restrict_to_rules();
    if (opts.http_ca_pem) http.ca_pem = opts.http_ca_pem;
    http.max_redirects = opts.http_max_redirects;
    http.connect_timeout_ms = opts.http_connect_timeout_ms;
    http.libcurl_only = opts.http_libcurl_only != 0;
    for (size_t i = 0; i < opts.http_allowed_host_count; i++) {
      std::string why;
      if (!opts.http_allowed_hosts[i]) return fail(BRAKE_INVALID_ARGUMENT, "http_allowed_hosts[" + std::to_string(i) + "] is NULL");
      if (!http.policy.add_rule(opts.http_allowed_hosts[i], why)) return fail(BRAKE_INVALID_ARGUMENT, why);
    }
    brake::runtime::Environment env;
    std::unordered_set<std::string> seen;
    if (opts.env_count && (!opts.env_names || !opts.env_values))
      return fail(BRAKE_INVALID_ARGUMENT, "options.env_names and env_values must not be NULL when env_count is not 0");
    for (size_t i = 0; i < opts.env_count; i++) {
      if (!opts.env_names[i]) return fail(BRAKE_INVALID_ARGUMENT, "env_names[" + std::to_string(i) + "] is NULL");
      std::string name = opts.env_names[i];
      if (!seen.insert(name).second) return fail(BRAKE_INVALID_ARGUMENT, "env_names gives '" + name + "' twice");
      if (!opts.env_values[i]) continue; // unset
      std::string value = opts.env_values[i];
      if (!brake::is_valid_utf8(value) || !brake::is_valid_utf8(name))
        return fail(BRAKE_INVALID_ARGUMENT, "env_names[" + std::to_string(i) + "] or its value is not UTF-8");
      env.emplace(std::move(name), std::move(value));
    }
    auto e = std::make_unique<brake_engine>();
    e->engine = std::make_unique<brake::runtime::Engine>(program->program, opts, std::move(host), std::move(http), std::move(env));
    *out = e.release();
    return int(BRAKE_OK);
  });
}

int brake_http_native_available(void) {
#ifdef BRAKE_HAVE_CURL
  return 1;
#else
  return 0;
#endif
}

size_t brake_engine_http_transfers(const brake_engine* e) { return e ? e->engine->http_transfers() : 0; }
size_t brake_engine_http_sockets(const brake_engine* e) { return e ? e->engine->http_sockets() : 0; }

void brake_call_options_init(brake_call_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

int brake_call_start(brake_engine* e, brake_call_id id, const char* function, const brake_value* const* args,
                     size_t nargs, const brake_call_options* options, brake_completion_fn done, void* user_data) {
  if (!e || !function || !done) return fail(BRAKE_MISUSE, "engine, function and callback must not be NULL");
  if (!args && nargs) return fail(BRAKE_MISUSE, "args is NULL");
  // Options grow at the end: a host built against an older (smaller)
  // struct still works, its missing fields taking their defaults.
  brake_call_options opts;
  brake_call_options_init(&opts);
  if (options) {
    if (options->struct_size < offsetof(brake_call_options, timeout_ms) || options->struct_size > sizeof opts)
      return fail(BRAKE_INVALID_ARGUMENT, "options.struct_size is wrong (use brake_call_options_init)");
    std::memcpy(&opts, options, options->struct_size);
  }
  // A deadline the engine could not keep is refused, not silently dropped.
  if (opts.timeout_ms > BRAKE_MAX_TIMEOUT_MS)
    return fail(BRAKE_INVALID_ARGUMENT, "timeout_ms must be from 0 (no deadline) to " +
                                            std::to_string(BRAKE_MAX_TIMEOUT_MS) + " (365 days)");
  return guarded([&] {
    brake::runtime::StartRequest r{id,   function, args,           nargs,           opts.timeout_ms, opts.token,
                                   done, user_data, opts.tag_names, opts.tag_values, opts.tag_count,
                                   opts.stream, opts.stream_user_data};
    std::string message;
    int status = e->engine->start(r, message);
    return status == BRAKE_OK ? status : fail(status, message);
  });
}

brake_stream_kind brake_stream_event_kind(const brake_stream_event* ev) { return ev ? ev->kind : BRAKE_STREAM_DELTA; }
const char* brake_stream_event_function(const brake_stream_event* ev) {
  return ev && ev->function ? ev->function->c_str() : "";
}
const char* brake_stream_event_client(const brake_stream_event* ev) { return ev && ev->client ? ev->client->c_str() : ""; }
uint32_t brake_stream_event_attempt(const brake_stream_event* ev) { return ev ? ev->attempt : 0; }
const char* brake_stream_event_text(const brake_stream_event* ev, size_t* len) {
  bool has = ev && ev->kind == BRAKE_STREAM_DELTA;
  if (len) *len = has ? ev->text.size() : 0;
  return has ? ev->text.c_str() : "";
}
const char* brake_stream_event_name(const brake_stream_event* ev) {
  return ev && ev->kind == BRAKE_STREAM_WATCH ? ev->text.c_str() : "";
}
const brake_value* brake_stream_event_value(const brake_stream_event* ev) { return ev ? ev->value.get() : nullptr; }

void brake_render_options_init(brake_render_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

int brake_engine_render_prompt(brake_engine* e, const char* function, const brake_value* const* args, size_t nargs,
                               const brake_render_options* options, brake_value** out) {
  if (!e || !function || !out) return fail(BRAKE_MISUSE, "engine, function and out must not be NULL");
  if (!args && nargs) return fail(BRAKE_MISUSE, "args is NULL");
  *out = nullptr;
  brake_render_options opts;
  brake_render_options_init(&opts);
  if (int rc = read_host_options(options, opts, offsetof(brake_render_options, client) + sizeof(const char*),
                                 "brake_render_options_init"))
    return rc;
  return host_value(out, [&](brake::ValuePtr& value, std::string& message) {
    return e->engine->render_prompt(function, args, nargs, opts, value, message);
  });
}

void brake_parse_options_init(brake_parse_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

namespace {
int read_parse_options(const brake_parse_options* options, brake_parse_options& opts) {
  brake_parse_options_init(&opts);
  return read_host_options(options, opts, offsetof(brake_parse_options, partial) + sizeof(int),
                           "brake_parse_options_init");
}
} // namespace

int brake_engine_parse(brake_engine* e, const char* function, const char* text, size_t len,
                       const brake_parse_options* options, brake_value** out) {
  if (!e || !function || !out) return fail(BRAKE_MISUSE, "engine, function and out must not be NULL");
  if (!text && len) return fail(BRAKE_MISUSE, "text is NULL");
  *out = nullptr;
  brake_parse_options opts;
  if (int rc = read_parse_options(options, opts)) return rc;
  return host_value(out, [&](brake::ValuePtr& value, std::string& message) {
    return e->engine->parse(function, std::string_view(text ? text : "", len), opts, value, message);
  });
}

int brake_engine_parse_json(brake_engine* e, const char* function, const char* text, size_t len,
                            const brake_parse_options* options, brake_json** json, brake_value** value) {
  if (!e || !function || !json || !value) return fail(BRAKE_MISUSE, "engine, function, json and value must not be NULL");
  if (!text && len) return fail(BRAKE_MISUSE, "text is NULL");
  *json = nullptr;
  *value = nullptr;
  brake_parse_options opts;
  if (int rc = read_parse_options(options, opts)) return rc;
  return guarded([&] {
    std::string message;
    auto written = std::make_unique<brake_json>();
    brake::ValuePtr tree;
    int status = e->engine->parse_json(function, std::string_view(text ? text : "", len), opts, *written, tree, message);
    if (status != BRAKE_OK) return fail(status, message);
    if (tree) *value = tree.release();
    else *json = written.release();
    return int(BRAKE_OK);
  });
}

const char* brake_json_text(const brake_json* json, size_t* len) {
  if (len) *len = json ? json->text.size() : 0;
  return json ? json->text.c_str() : "";
}

const char* brake_json_classes(const brake_json* json, size_t* len) {
  bool any = json && json->any_instance;
  if (len) *len = any ? json->classes.size() : 0;
  return any ? json->classes.c_str() : nullptr;
}

void brake_json_free(brake_json* json) { delete json; }

int brake_cancel(brake_engine* e, brake_call_id id) {
  if (!e) return fail(BRAKE_MISUSE, "engine is NULL");
  return guarded([&] {
    int status = e->engine->cancel(id);
    return status == BRAKE_OK ? status : fail(status, "no live call with id " + std::to_string(id));
  });
}

size_t brake_engine_live_calls(const brake_engine* e) { return e ? e->engine->live_calls() : 0; }
size_t brake_engine_live_tasks(const brake_engine* e) { return e ? e->engine->live_tasks() : 0; }

size_t brake_engine_memory_in_use(const brake_engine* e) { return e ? e->engine->memory_in_use() : 0; }

// ---------------------------------------------------------------- host functions

namespace {
const brake::runtime::HostOperation* host_op(const brake_host_call* c) {
  return reinterpret_cast<const brake::runtime::HostOperation*>(c);
}
} // namespace

brake_op_id brake_host_call_op(const brake_host_call* c) { return c ? host_op(c)->id : 0; }
brake_call_id brake_host_call_call_id(const brake_host_call* c) { return c ? host_op(c)->call_id : 0; }
void* brake_host_call_user_data(const brake_host_call* c) { return c ? host_op(c)->call_user_data : nullptr; }
const char* brake_host_call_function(const brake_host_call* c) { return c ? host_op(c)->function_name->c_str() : nullptr; }
size_t brake_host_call_function_index(const brake_host_call* c) { return c ? host_op(c)->function : 0; }
size_t brake_host_call_arg_count(const brake_host_call* c) { return c ? host_op(c)->args.size() : 0; }
const brake_value* brake_host_call_arg(const brake_host_call* c, size_t i) {
  return c && i < host_op(c)->args.size() ? host_op(c)->args[i].get() : nullptr;
}

int brake_host_complete(brake_engine* e, brake_op_id op, const brake_value* value) {
  if (!e) return fail(BRAKE_MISUSE, "engine is NULL");
  return guarded([&] {
    brake::runtime::OperationOutcome outcome;
    outcome.value = value ? brake::clone_value(*value) : std::make_unique<brake_value>();
    int status = e->engine->complete_operation(op, std::move(outcome));
    return status == BRAKE_OK ? status : fail(status, "no pending host call with operation id " + std::to_string(op));
  });
}

size_t brake_host_complete_all(brake_engine* e, const brake_op_id* ops, brake_value* const* values, size_t n,
                               int* statuses) {
  // Adopted at once: freed on every path out.
  std::vector<brake::ValuePtr> owned;
  try {
    owned.reserve(n);
  } catch (...) {
    if (values)
      for (size_t i = 0; i < n; i++) brake_value_free(values[i]);
    if (statuses)
      for (size_t i = 0; i < n; i++) statuses[i] = BRAKE_NO_MEMORY;
    return 0;
  }
  for (size_t i = 0; i < n; i++) owned.emplace_back(values ? values[i] : nullptr);
  if (!e || (!ops && n)) return 0;
  if (!statuses) {
    // Nobody reads a status: hand the values straight to the operations'
    // workers, which check the operations themselves (no lookups here).
    try {
      std::vector<brake_value*> raw(n);
      for (size_t i = 0; i < n; i++) raw[i] = owned[i].release();
      e->engine->post_results(ops, raw.data(), n); // adopts them, even when it throws
      return n;
    } catch (...) {
      set_last_error("out of memory");
      return 0;
    }
  }
  try {
    std::vector<brake::runtime::OperationOutcome> outcomes(n);
    for (size_t i = 0; i < n; i++)
      outcomes[i].value = owned[i] ? std::move(owned[i]) : std::make_unique<brake_value>();
    return e->engine->complete_operations(ops, outcomes.data(), n, statuses);
  } catch (...) {
    // Making the outcomes or finding the operations: nothing was taken.
    if (statuses)
      for (size_t i = 0; i < n; i++) statuses[i] = BRAKE_NO_MEMORY;
    set_last_error("out of memory");
    return 0;
  }
}

int brake_host_fail(brake_engine* e, brake_op_id op, const char* message, const char* code) {
  if (!e) return fail(BRAKE_MISUSE, "engine is NULL");
  return guarded([&] {
    brake::runtime::OperationOutcome outcome;
    outcome.failed = true;
    outcome.error_message = message ? message : "";
    outcome.error_code = code ? code : "";
    int status = e->engine->complete_operation(op, std::move(outcome));
    return status == BRAKE_OK ? status : fail(status, "no pending host call with operation id " + std::to_string(op));
  });
}

int brake_host_part(brake_engine* e, brake_op_id op, const char* bytes, size_t len) {
  if (!e || (!bytes && len)) return fail(BRAKE_MISUSE, "engine is NULL, or bytes is NULL with len > 0");
  return guarded([&] {
    int status = e->engine->host_part(op, std::string_view(bytes ? bytes : "", len));
    return status == BRAKE_OK ? status : fail(status, "no pending host call with operation id " + std::to_string(op));
  });
}

size_t brake_engine_pending_host_calls(const brake_engine* e) { return e ? e->engine->pending_operations() : 0; }

int brake_host_call_finished(const brake_engine* e, brake_op_id op) {
  if (!e) return 1;
  try {
    return e->engine->operation_finished(op) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

size_t brake_engine_drain(brake_engine* e) { return e ? e->engine->drain(0, nullptr) : 0; }

size_t brake_engine_drain_max(brake_engine* e, size_t max, int* more) {
  if (more) *more = 0;
  if (!e) return 0;
  bool remaining = false;
  size_t n = e->engine->drain(max, &remaining);
  if (more) *more = remaining ? 1 : 0;
  return n;
}

int brake_engine_close(brake_engine* e) {
  if (!e) return fail(BRAKE_MISUSE, "engine is NULL");
  return guarded([&] {
    std::string message;
    int status = e->engine->close(message);
    return status == BRAKE_OK ? status : fail(status, message);
  });
}

void brake_engine_free(brake_engine* e) {
  if (!e) return;
  if (brake::runtime::in_engine_callback_context()) {
    set_last_error("brake_engine_free cannot be called from a worker thread or a completion callback; nothing was freed");
    return;
  }
  delete e;
}

// ---------------------------------------------------------------- results

brake_call_id brake_result_call_id(const brake_result* r) { return r ? r->id : 0; }
int brake_result_status(const brake_result* r) { return r ? r->status : BRAKE_MISUSE; }
const brake_value* brake_result_value(const brake_result* r) {
  if (!r) return nullptr;
  if (r->status == BRAKE_OK) return r->value.get();
  return r->status == BRAKE_SCRIPT_ERROR && r->error && r->error->kind == "unhandled_throw" ? r->value.get() : nullptr;
}
const char* brake_result_message(const brake_result* r) {
  if (!r) return "";
  if (r->fixed_message) return r->fixed_message;
  return r->error ? r->error->message.c_str() : "";
}
brake_origin brake_result_origin(const brake_result* r) { return r ? r->origin : BRAKE_ORIGIN_NONE; }
const char* brake_result_error_kind(const brake_result* r) { return r && r->error ? r->error->kind.c_str() : ""; }
const char* brake_result_error_code(const brake_result* r) { return r && r->error ? r->error->code.c_str() : ""; }
size_t brake_result_frame_count(const brake_result* r) { return r && r->error ? r->error->frames.size() : 0; }
const char* brake_result_frame_function(const brake_result* r, size_t i) {
  return r && r->error && i < r->error->frames.size() ? r->error->frames[i].function.c_str() : nullptr;
}
int brake_result_http_status(const brake_result* r) {
  return r && r->error && r->error->http ? int(r->error->http->status) : 0;
}
const char* brake_result_http_url(const brake_result* r) {
  return r && r->error && r->error->http ? r->error->http->url.c_str() : nullptr;
}
const char* brake_result_http_body(const brake_result* r) {
  return r && r->error && r->error->http ? r->error->http->body.c_str() : nullptr;
}
namespace {
const brake::vm::LlmAttemptRecord* llm_attempt(const brake_result* r, size_t i) {
  if (!r || !r->error || !r->error->llm || i >= r->error->llm->attempts.size()) return nullptr;
  return &r->error->llm->attempts[i];
}
} // namespace
size_t brake_result_llm_attempt_count(const brake_result* r) {
  return r && r->error && r->error->llm ? r->error->llm->attempts.size() : 0;
}
const char* brake_result_llm_attempt_client(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? a->client.c_str() : nullptr;
}
const char* brake_result_llm_attempt_provider(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? a->provider.c_str() : nullptr;
}
int brake_result_llm_attempt_status(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? int(a->status) : 0;
}
const char* brake_result_llm_attempt_error(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? a->error.c_str() : nullptr;
}
uint64_t brake_result_llm_attempt_duration_us(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? a->duration_us : 0;
}
const char* brake_result_llm_attempt_body(const brake_result* r, size_t i) {
  auto* a = llm_attempt(r, i);
  return a ? a->body.c_str() : nullptr;
}
uint32_t brake_result_frame_line(const brake_result* r, size_t i) {
  return r && r->error && i < r->error->frames.size() ? r->error->frames[i].line : 0;
}

} // extern "C"
