// lang_programs_test.cpp: runs every .baml program under test/lang through
// the public C ABI (brake.h only) and checks it against the expectations
// written in its comments.
//
// Expectation comments (any line whose first non-blank characters are `//`):
//   // expect: <value>                      the call returns this value (display format)
//   // expect error: <STATUS> <substring>   the call fails with this status and its
//                                           message contains the substring (a start that
//                                           brake_call_start refuses counts, checked
//                                           against brake_last_error())
//   // expect compile error: <line>:<col> <substring>
//   // expect compile error: <line> <substring>
//                                           one line per diagnostic; the program must fail
//                                           to compile with exactly these diagnostics
//   // call: <function>                     default main
//   // args: <v1>, <v2>, ...                 positional arguments in display format
//
// Substrings are matched case-insensitively (the wording's case is not part of
// the contract; the words are). Diagnostics are matched as a set: each
// expected line must be satisfied by a different actual diagnostic.
//
// Usage: lang_programs_test [path-substring]. BRAKE_LANG_TESTS_DIR overrides
// the directory (default BRAKE_SOURCE_DIR "/test/lang").
#include "brake.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifndef BRAKE_SOURCE_DIR
#define BRAKE_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace {

constexpr auto k_call_timeout = std::chrono::seconds(30);
constexpr auto k_cancel_grace = std::chrono::seconds(5);

// ---------------------------------------------------------------- small helpers

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains_ci(const std::string& haystack, const std::string& needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// ---------------------------------------------------------------- display-format parser

struct ValueDeleter {
  void operator()(brake_value* v) const { brake_value_free(v); }
};
using ValuePtr = std::unique_ptr<brake_value, ValueDeleter>;

// Recursive descent over brake's display format:
//   value  := null | true | false | number | string | array | map
//   number := -?digits  (int)  |  anything with '.', 'e', inf or nan (float)
//   array  := '[' (value (',' value)*)? ']'
//   map    := '{' (string ':' value (',' string ':' value)*)? '}'
class DisplayParser {
public:
  explicit DisplayParser(std::string text) : m_text(std::move(text)) {}

  // Parses a comma-separated list of values up to the end of the text.
  bool parse_list(std::vector<ValuePtr>& out) {
    skip_ws();
    if (at_end()) return true;
    for (;;) {
      ValuePtr v = parse_value();
      if (!v) return false;
      out.push_back(std::move(v));
      skip_ws();
      if (at_end()) return true;
      if (!consume(',')) return fail("expected ',' between arguments");
    }
  }

  const std::string& error() const { return m_error; }

private:
  std::string m_text;
  size_t m_pos = 0;
  std::string m_error;

  bool at_end() const { return m_pos >= m_text.size(); }
  char peek() const { return at_end() ? '\0' : m_text[m_pos]; }
  void skip_ws() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(peek()))) m_pos++;
  }
  bool consume(char c) {
    skip_ws();
    if (peek() != c) return false;
    m_pos++;
    return true;
  }
  bool consume_word(const char* w) {
    size_t n = std::strlen(w);
    if (m_text.compare(m_pos, n, w) != 0) return false;
    m_pos += n;
    return true;
  }
  bool fail(const std::string& msg) {
    if (m_error.empty()) m_error = msg + " at offset " + std::to_string(m_pos);
    return false;
  }
  ValuePtr fail_value(const std::string& msg) {
    fail(msg);
    return nullptr;
  }

  ValuePtr parse_value() {
    skip_ws();
    char c = peek();
    if (c == '[') return parse_array();
    if (c == '{') return parse_map();
    if (c == '"') {
      std::string s;
      if (!parse_string(s)) return nullptr;
      brake_value* v = nullptr;
      if (brake_value_string(s.data(), s.size(), &v) != BRAKE_OK) return fail_value("bad string");
      return ValuePtr(v);
    }
    if (consume_word("null")) return ValuePtr(brake_value_null());
    if (consume_word("true")) return ValuePtr(brake_value_bool(1));
    if (consume_word("false")) return ValuePtr(brake_value_bool(0));
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c)) || c == 'i' ||
        c == 'n')
      return parse_number();
    return fail_value(std::string("unexpected character '") + c + "'");
  }

  ValuePtr parse_number() {
    size_t start = m_pos;
    while (!at_end()) {
      char c = peek();
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+')
        m_pos++;
      else
        break;
    }
    std::string tok = m_text.substr(start, m_pos - start);
    bool is_float = tok.find_first_of(".eEin") != std::string::npos;
    if (!is_float) {
      errno = 0;
      char* end = nullptr;
      long long i = std::strtoll(tok.c_str(), &end, 10);
      if (tok.empty() || *end != '\0' || errno == ERANGE) return fail_value("bad int '" + tok + "'");
      return ValuePtr(brake_value_int(static_cast<int64_t>(i)));
    }
    char* end = nullptr;
    double d = std::strtod(tok.c_str(), &end);
    if (tok.empty() || *end != '\0') return fail_value("bad float '" + tok + "'");
    return ValuePtr(brake_value_float(d));
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool parse_hex4(uint32_t& cp) {
    if (m_pos + 4 > m_text.size()) return fail("short \\u escape");
    cp = 0;
    for (int i = 0; i < 4; i++) {
      char h = m_text[m_pos++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<uint32_t>(h - 'A' + 10);
      else return fail("bad \\u escape");
    }
    return true;
  }

  // string := '"' (char | '\' escape)* '"'   (JSON escapes)
  bool parse_string(std::string& out) {
    skip_ws();
    if (!consume('"')) return fail("expected string");
    for (;;) {
      if (at_end()) return fail("unterminated string");
      char c = m_text[m_pos++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return fail("unterminated escape");
      char e = m_text[m_pos++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!parse_hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && m_text.compare(m_pos, 2, "\\u") == 0) {
            m_pos += 2;
            uint32_t lo = 0;
            if (!parse_hex4(lo)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return fail(std::string("bad escape \\") + e);
      }
    }
  }

  ValuePtr parse_array() {
    consume('[');
    ValuePtr arr(brake_value_array());
    if (consume(']')) return arr;
    for (;;) {
      ValuePtr item = parse_value();
      if (!item) return nullptr;
      if (brake_value_array_push(arr.get(), item.release()) != BRAKE_OK)
        return fail_value("array push failed");
      if (consume(']')) return arr;
      if (!consume(',')) return fail_value("expected ',' or ']'");
    }
  }

  ValuePtr parse_map() {
    consume('{');
    ValuePtr map(brake_value_map());
    if (consume('}')) return map;
    for (;;) {
      std::string key;
      if (!parse_string(key)) return nullptr;
      if (!consume(':')) return fail_value("expected ':'");
      ValuePtr item = parse_value();
      if (!item) return nullptr;
      if (brake_value_map_set(map.get(), key.data(), key.size(), item.release()) != BRAKE_OK)
        return fail_value("map set failed");
      if (consume('}')) return map;
      if (!consume(',')) return fail_value("expected ',' or '}'");
    }
  }
};

// ---------------------------------------------------------------- expectations

enum class ExpectKind { None, Value, Error, CompileError };

struct ExpectedDiagnostic {
  uint32_t line = 0;
  std::optional<uint32_t> column;
  std::string substring;
  std::string text; // as written, for reports
};

struct Expectation {
  ExpectKind kind = ExpectKind::None;
  std::string value;           // Value
  std::string status;          // Error
  std::string substring;       // Error
  std::vector<ExpectedDiagnostic> diagnostics;
  std::string function = "main";
  std::string args;
  std::vector<std::string> problems; // malformed expectation comments
};

bool parse_diagnostic_spec(const std::string& spec, ExpectedDiagnostic& out) {
  out.text = spec;
  size_t i = 0;
  auto read_uint = [&](uint32_t& v) {
    size_t start = i;
    uint64_t n = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
      n = n * 10 + static_cast<uint64_t>(spec[i++] - '0');
    v = static_cast<uint32_t>(n);
    return i > start;
  };
  if (!read_uint(out.line)) return false;
  if (i < spec.size() && spec[i] == ':') {
    i++;
    uint32_t col = 0;
    if (!read_uint(col)) return false;
    out.column = col;
  }
  if (i < spec.size() && !std::isspace(static_cast<unsigned char>(spec[i]))) return false;
  out.substring = trim(spec.substr(i));
  return true;
}

void set_kind(Expectation& e, ExpectKind k) {
  if (e.kind != ExpectKind::None && (e.kind != k || k != ExpectKind::CompileError))
    e.problems.push_back("more than one expectation");
  e.kind = k;
}

Expectation parse_expectation(const std::string& source) {
  Expectation e;
  std::istringstream in(source);
  std::string raw;
  while (std::getline(in, raw)) {
    std::string line = trim(raw);
    if (!starts_with(line, "//")) continue;
    std::string body = trim(line.substr(2));
    if (starts_with(body, "expect compile error:")) {
      set_kind(e, ExpectKind::CompileError);
      ExpectedDiagnostic d;
      if (parse_diagnostic_spec(trim(body.substr(21)), d))
        e.diagnostics.push_back(d);
      else
        e.problems.push_back("bad compile error spec: " + body);
    } else if (starts_with(body, "expect error:")) {
      set_kind(e, ExpectKind::Error);
      std::string rest = trim(body.substr(13));
      size_t sp = rest.find_first_of(" \t");
      e.status = rest.substr(0, sp);
      e.substring = sp == std::string::npos ? "" : trim(rest.substr(sp));
    } else if (starts_with(body, "expect:")) {
      set_kind(e, ExpectKind::Value);
      e.value = trim(body.substr(7));
    } else if (starts_with(body, "call:")) {
      e.function = trim(body.substr(5));
    } else if (starts_with(body, "args:")) {
      e.args = trim(body.substr(5));
    }
  }
  if (e.kind == ExpectKind::None) e.problems.push_back("no expectation comment");
  return e;
}

// ---------------------------------------------------------------- running one call

// Shared between the test thread and the completion callback (which runs on a
// worker thread). Heap-allocated and leaked on a hang, so a late callback never
// touches freed memory.
struct CallWait {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int status = -1;
  std::string message;
  std::string formatted;
  std::string error_kind;
};

void on_call_done(void* user_data, const brake_result* result) {
  auto* w = static_cast<CallWait*>(user_data);
  int status = brake_result_status(result);
  std::string message = brake_result_message(result);
  std::string kind = brake_result_error_kind(result);
  std::string formatted;
  if (status == BRAKE_OK) {
    char* s = nullptr;
    if (brake_value_format(brake_result_value(result), &s) == BRAKE_OK && s) {
      formatted = s;
      brake_string_free(s);
    } else {
      formatted = "<brake_value_format failed>";
    }
  }
  std::lock_guard<std::mutex> lock(w->mu);
  w->status = status;
  w->message = std::move(message);
  w->error_kind = std::move(kind);
  w->formatted = std::move(formatted);
  w->done = true;
  w->cv.notify_all();
}

std::string describe_outcome(const CallWait& w) {
  if (w.status == BRAKE_OK) return w.formatted;
  std::string s = std::string("error ") + brake_status_name(w.status) + " \"" + w.message + "\"";
  if (!w.error_kind.empty()) s += " (kind " + w.error_kind + ")";
  return s;
}

struct Diagnostic {
  std::string file;
  uint32_t line, column;
  std::string message;
  bool used = false;
};

std::vector<Diagnostic> read_diagnostics(const brake_program* prog) {
  std::vector<Diagnostic> out;
  size_t n = brake_program_diagnostic_count(prog);
  for (size_t i = 0; i < n; i++) {
    const char* file = nullptr;
    const char* msg = nullptr;
    uint32_t line = 0, col = 0;
    brake_program_diagnostic(prog, i, &file, &line, &col, &msg);
    out.push_back({file ? file : "", line, col, msg ? msg : ""});
  }
  return out;
}

std::string describe_diagnostics(const brake_program* prog) {
  std::string s;
  for (const Diagnostic& d : read_diagnostics(prog))
    s += "\n      " + std::to_string(d.line) + ":" + std::to_string(d.column) + " " + d.message;
  return s;
}

struct ProgramDeleter {
  void operator()(brake_program* p) const { brake_program_free(p); }
};

// Returns "" on success, else a description of the failure.
std::string check_compile_errors(const Expectation& e, const brake_program* prog,
                                 const std::string& rel) {
  std::vector<Diagnostic> actual = read_diagnostics(prog);
  std::string problems;
  for (const Diagnostic& a : actual)
    if (a.file != rel) problems += "\n    diagnostic file is '" + a.file + "', expected '" + rel + "'";
  // Exact line:col specs first, so a line-only spec cannot steal their match.
  std::vector<const ExpectedDiagnostic*> order;
  for (const auto& d : e.diagnostics)
    if (d.column) order.push_back(&d);
  for (const auto& d : e.diagnostics)
    if (!d.column) order.push_back(&d);
  for (const ExpectedDiagnostic* d : order) {
    bool found = false;
    for (Diagnostic& a : actual) {
      if (a.used || a.line != d->line) continue;
      if (d->column && a.column != *d->column) continue;
      if (!contains_ci(a.message, d->substring)) continue;
      a.used = found = true;
      break;
    }
    if (!found) problems += "\n    missing diagnostic " + d->text;
  }
  for (const Diagnostic& a : actual)
    if (!a.used)
      problems += "\n    unexpected diagnostic " + std::to_string(a.line) + ":" +
                  std::to_string(a.column) + " " + a.message;
  if (!problems.empty()) problems += "\n    all diagnostics:" + describe_diagnostics(prog);
  return problems;
}

std::string run_program(const fs::path& path, const std::string& rel) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream buf;
  buf << f.rdbuf();
  std::string source = buf.str();

  Expectation e = parse_expectation(source);
  if (!e.problems.empty()) {
    std::string s;
    for (const auto& p : e.problems) s += (s.empty() ? "" : "; ") + p;
    return "bad test file: " + s;
  }

  brake_program* raw_prog = nullptr;
  int cst = brake_program_compile(source.data(), source.size(), rel.c_str(), &raw_prog);
  std::unique_ptr<brake_program, ProgramDeleter> prog(raw_prog);
  if (e.kind == ExpectKind::CompileError) {
    if (cst != BRAKE_COMPILE_ERROR)
      return std::string("expected compile errors, got status ") + brake_status_name(cst) +
             " with " + std::to_string(prog ? brake_program_diagnostic_count(prog.get()) : 0) +
             " diagnostics";
    std::string problems = check_compile_errors(e, prog.get(), rel);
    return problems.empty() ? "" : "compile errors differ:" + problems;
  }
  if (cst != BRAKE_OK) {
    return std::string("expected to compile, got ") + brake_status_name(cst) +
           (prog ? describe_diagnostics(prog.get()) : std::string(" ") + brake_last_error());
  }

  std::vector<ValuePtr> args;
  DisplayParser parser(e.args);
  if (!parser.parse_list(args)) return "bad args comment: " + parser.error();
  std::vector<const brake_value*> arg_ptrs;
  for (const auto& a : args) arg_ptrs.push_back(a.get());

  brake_engine_options opts;
  brake_engine_options_init(&opts);
  opts.worker_threads = 2;
  opts.notify = nullptr;
  brake_engine* eng = nullptr;
  int est = brake_engine_create(prog.get(), &opts, &eng);
  if (est != BRAKE_OK)
    return std::string("brake_engine_create failed: ") + brake_status_name(est) + " " +
           brake_last_error();
  prog.reset();

  auto* wait = new CallWait();
  int sst = brake_call_start(eng, 1, e.function.c_str(), arg_ptrs.data(), arg_ptrs.size(), nullptr,
                             on_call_done, wait);
  if (sst != BRAKE_OK) {
    // A refused start is the call failing too: `expect error: UNKNOWN_FUNCTION`
    // and `expect error: INVALID_ARGUMENT` check it with brake_last_error().
    std::string last = brake_last_error();
    delete wait;
    brake_engine_free(eng);
    if (e.kind == ExpectKind::Error && e.status == brake_status_name(sst) &&
        contains_ci(last, e.substring))
      return "";
    return std::string("brake_call_start failed: ") + brake_status_name(sst) + " \"" + last + "\"";
  }

  std::unique_lock<std::mutex> lock(wait->mu);
  if (!wait->cv.wait_for(lock, k_call_timeout, [&] { return wait->done; })) {
    lock.unlock();
    brake_cancel(eng, 1);
    lock.lock();
    if (!wait->cv.wait_for(lock, k_cancel_grace, [&] { return wait->done; })) {
      // Hung even after cancel: leak the engine and the wait state rather
      // than block in brake_engine_free or free memory a late callback uses.
      return "timed out after 30 s (and did not settle after cancel)";
    }
    lock.unlock();
    brake_engine_free(eng);
    delete wait;
    return "timed out after 30 s (settled after cancel)";
  }
  CallWait w;
  w.status = wait->status;
  w.message = wait->message;
  w.formatted = wait->formatted;
  w.error_kind = wait->error_kind;
  lock.unlock();
  brake_engine_free(eng);
  delete wait;

  if (e.kind == ExpectKind::Value) {
    if (w.status == BRAKE_OK && w.formatted == e.value) return "";
    return "expected " + e.value + ", got " + describe_outcome(w);
  }
  // ExpectKind::Error
  if (w.status != BRAKE_OK && e.status == brake_status_name(w.status) &&
      contains_ci(w.message, e.substring))
    return "";
  return "expected error " + e.status + " \"" + e.substring + "\", got " + describe_outcome(w);
}

} // namespace

int main(int argc, char** argv) {
  const char* env_dir = std::getenv("BRAKE_LANG_TESTS_DIR");
  fs::path dir = env_dir && *env_dir ? fs::path(env_dir) : fs::path(BRAKE_SOURCE_DIR "/test/lang");
  std::string filter = argc > 1 ? argv[1] : "";

  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::fprintf(stderr, "no test directory %s\n", dir.string().c_str());
    return 2;
  }
  std::vector<std::pair<std::string, fs::path>> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".baml") continue;
    std::string rel = fs::relative(it->path(), dir).generic_string();
    if (!filter.empty() && rel.find(filter) == std::string::npos) continue;
    files.emplace_back(rel, it->path());
  }
  std::sort(files.begin(), files.end());

  int passed = 0, failed = 0;
  for (const auto& [rel, path] : files) {
    std::string failure = run_program(path, rel);
    if (failure.empty()) {
      passed++;
    } else {
      failed++;
      std::printf("FAIL %s: %s\n", rel.c_str(), failure.c_str());
      std::fflush(stdout);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  if (files.empty()) {
    std::fprintf(stderr, "no .baml programs found under %s\n", dir.string().c_str());
    return 1;
  }
  return failed > 0 ? 1 : 0;
}
