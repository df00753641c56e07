// request.h: what a script's baml.http.fetch(url, options) asks for, checked
// before any transport sees it, and the engine's network policy.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vm/chunk.h"
#include "vm/value.h"

namespace brake::http {

// The parts of an absolute http(s) URL that policy and transports need.
struct Url {
  bool https = false;
  std::string host; // lower case; an IPv6 literal without its brackets
  uint16_t port = 0; // the scheme's default when the URL gives none
};

// `s` in ASCII lower case (header names, hosts, schemes).
std::string ascii_lower(std::string_view s);

// What a transport answers, as the script's Response wants it: the same
// shape from either transport (the host's is checked into it first).
struct Answer {
  bool failed = false;
  std::string error; // failed: why (the transport's reason, a limit, the timeout)
  long status = 0;
  std::string url; // the effective URL ("": the request's)
  std::vector<std::pair<std::string, std::string>> headers; // names in lower case
  std::string body; // bytes as received (not always UTF-8)
  // A part of a streamed body (TransferOptions::stream_body): `body` holds
  // the bytes that arrived since the last part, `status` is set, nothing
  // else is; the transfer goes on. The last answer (more false) carries the
  // rest of the body and the headers.
  bool more = false;
};

// Parses an absolute http:// or https:// URL; false with `why` otherwise.
bool parse_url(std::string_view text, Url& out, std::string& why);

struct Request {
  std::string url;
  Url parsed;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_body = false;
  std::string body;
  uint64_t timeout_ms = 0;         // 0: the engine's
  uint64_t connect_timeout_ms = 0; // 0: the engine's (native transport only)
};

// ASCII case folding and comparison (header names, tokens, hosts).
inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }
bool ascii_iequals(std::string_view a, std::string_view b);

// `s` without spaces and tabs around it (and a trailing CR).
std::string_view trim_ows(std::string_view s);

// Adds one response header line (without its line end) to `headers`, as
// both native clients read them: names in lower case, a repeated name's
// values joined with ", ", an obsolete folded line (starting with a space or
// tab) appended to the last value; an empty line is ignored. False for a
// line that is none of these (no colon, or no name).
bool add_header_line(std::vector<std::pair<std::string, std::string>>& headers, std::string_view line);

// Whether the request has a header named `lower_name` (in any case).
bool has_header(const Request& req, std::string_view lower_name);

// Whether the request carries a body, an empty one for a body-less POST,
// PUT or PATCH (so a content-length of 0 is sent).
bool sends_body(const Request& req);

// Whether the environment sets a proxy for this scheme (http_proxy or
// https_proxy / HTTPS_PROXY, all_proxy / ALL_PROXY), as libcurl reads them.
bool proxy_in_environment(bool https);

// The failure of a body over the response-size limit (every transport).
std::string too_large_message(uint64_t max_bytes);

// Where a redirect's Location (absolute, scheme-relative, absolute-path or
// relative) leads from `base`; false with `why` when it is not an http(s)
// URL this engine can reach.
bool resolve_redirect(const std::string& base, const std::string& location, std::string& out, std::string& why);

// Reads fetch's arguments: a url, and optionally a map of options
//   method: string (a token; upper-cased),
//   headers: map<string, string> (names are tokens; values without CR/LF),
//   body: string, or any other value sent as JSON (with content-type
//         application/json unless the headers give one),
//   timeout_ms: int >= 0 (the whole request, redirects included),
//   connect_timeout_ms: int >= 0 (the native transport's connection phase).
// False with `message` for anything else (an unknown option is refused, so
// a misspelt one is not silently ignored). A JSON body longer than
// `max_body` is refused. Throws vm::Interrupted on a cancel.
bool read_fetch_args(const vm::Value* args, size_t argc, const vm::CompiledProgram& program, size_t max_body,
                     const std::atomic<uint32_t>* cancel_state, Request& out, std::string& message);

// Which hosts scripts may reach: all, until restrict_to_rules() or a rule; then only those its
// rules allow (none without rules). Each rule is a host name
// ("api.example.com"), a suffix ("*.example.com": subdomains only), or an
// IP literal ("127.0.0.1", "[::1]"), each optionally with ":port" (without
// one, any port).
class Policy {
public:
  // False with `why` for a rule that is not of those forms.
  bool add_rule(std::string_view rule, std::string& why);
  void restrict_to_rules() { m_restricted = true; }
  bool allows(const Url& url) const;

private:
  bool m_restricted = false;
  struct Rule {
    std::string host; // lower case; for a suffix rule, ".example.com"
    bool suffix = false;
    uint16_t port = 0; // 0: any
  };
  std::vector<Rule> m_rules;
};

} // namespace brake::http
