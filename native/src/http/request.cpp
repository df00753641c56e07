#include "http/request.h"

#include <cstdlib>

#include <cctype>
#include <cstring>

#include "common/utf8.h"
#include "json/json.h"

namespace brake::http {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

namespace {

// At most `n` bytes of `s` for a message, cut at a character boundary.
std::string excerpt(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return std::string(utf8_prefix(s, n)) + "...";
}

// RFC 9110 token characters (method and header names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (!std::strchr("!#$%&'*+-.^_`|~", c) || c == 0) return false;
  }
  return true;
}

// A port number of 1-65535 written in decimal.
bool parse_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + uint32_t(c - '0');
  }
  if (n == 0 || n > 65535) return false;
  port = uint16_t(n);
  return true;
}

bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

bool valid_ipv6(std::string_view h) {
  if (h.empty()) return false;
  for (char c : h)
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  return h.find(':') != std::string_view::npos;
}

// "host", "host:port", "[v6]" or "[v6]:port" into host (lower case, no
// brackets) and port (0 when not given).
bool split_host_port(std::string_view s, std::string& host, uint16_t& port, std::string& why) {
  port = 0;
  std::string_view h = s, p;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) {
      why = "an IPv6 address without its closing ']'";
      return false;
    }
    h = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        why = "unexpected text after the IPv6 address";
        return false;
      }
      p = rest.substr(1);
      if (!parse_port(p, port)) {
        why = "an invalid port";
        return false;
      }
    }
    if (!valid_ipv6(h)) {
      why = "an invalid IPv6 address";
      return false;
    }
    host = ascii_lower(h);
    return true;
  }
  size_t colon = s.rfind(':');
  if (colon != std::string_view::npos) {
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
    if (!parse_port(p, port)) {
      why = "an invalid port";
      return false;
    }
  }
  if (!valid_host_name(h)) {
    why = h.empty() ? "no host" : "an invalid host name";
    return false;
  }
  host = ascii_lower(h);
  return true;
}

} // namespace

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool add_header_line(std::vector<std::pair<std::string, std::string>>& headers, std::string_view line) {
  if (trim_ows(line).empty()) return true;
  if (line.front() == ' ' || line.front() == '\t') {
    if (!headers.empty()) {
      headers.back().second += ' ';
      headers.back().second += trim_ows(line);
    }
    return true;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string name = ascii_lower(trim_ows(line.substr(0, colon)));
  if (name.empty()) return false;
  std::string_view value = trim_ows(line.substr(colon + 1));
  for (auto& [k, v] : headers)
    if (k == name) {
      v += ", ";
      v += value;
      return true;
    }
  headers.emplace_back(std::move(name), std::string(value));
  return true;
}

bool has_header(const Request& req, std::string_view lower_name) {
  for (const auto& [name, value] : req.headers)
    if (ascii_iequals(name, lower_name)) return true;
  return false;
}

bool sends_body(const Request& req) {
  return req.has_body || req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
}

bool proxy_in_environment(bool https) {
  for (const char* name : {https ? "https_proxy" : "http_proxy", https ? "HTTPS_PROXY" : "", "all_proxy", "ALL_PROXY"}) {
    if (!*name) continue;
    const char* v = std::getenv(name);
    if (v && *v) return true;
  }
  return false;
}

std::string too_large_message(uint64_t max_bytes) {
  return "the response body is larger than the limit of " + std::to_string(max_bytes) + " bytes";
}

bool parse_url(std::string_view text, Url& out, std::string& why) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      why = "a URL may not contain spaces or control characters";
      return false;
    }
  }
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    why = "not an absolute URL (it needs http:// or https://)";
    return false;
  }
  std::string scheme = ascii_lower(text.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    why = "unsupported scheme '" + scheme + "' (only http and https)";
    return false;
  }
  out.https = scheme == "https";
  std::string_view rest = text.substr(sep + 3);
  // A backslash ends the authority too, as in WHATWG URLs (what fetch and
  // browsers parse): "http://a.com\\@b.com" goes to a.com, not b.com.
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#\\"));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1); // credentials are the transport's
  uint16_t port = 0;
  if (!split_host_port(authority, out.host, port, why)) {
    why = "the URL has " + why;
    return false;
  }
  out.port = port ? port : (out.https ? 443 : 80);
  return true;
}

bool read_fetch_args(const vm::Value* args, size_t argc, const vm::CompiledProgram& program, size_t max_body,
                     const std::atomic<uint32_t>* cancel_state, Request& out, std::string& message) {
  if (argc < 1 || args[0].tag != vm::Tag::String) {
    message = "the url must be a string";
    return false;
  }
  out.url = args[0].as_string()->text;
  std::string why;
  if (!parse_url(out.url, out.parsed, why)) {
    message = "invalid URL \"" + excerpt(out.url, 200) + "\": " + why;
    return false;
  }
  if (argc < 2 || args[1].tag == vm::Tag::Null) return true;
  if (args[1].tag != vm::Tag::Map) {
    message = "the options must be a map (method, headers, body, timeout_ms)";
    return false;
  }
  const vm::MapObj* options = args[1].as_map();
  bool has_content_type = false;
  const vm::Value* body = nullptr;
  for (size_t i = 0; i < options->size(); i++) {
    const std::string& key = options->keys[i];
    vm::Value v = options->values[i];
    if (key == "method") {
      if (v.tag != vm::Tag::String || !is_token(v.as_string()->text)) {
        message = "the method must be an HTTP method name such as \"POST\"";
        return false;
      }
      out.method = v.as_string()->text;
      for (char& c : out.method) c = char(std::toupper(static_cast<unsigned char>(c)));
    } else if (key == "headers") {
      if (v.tag != vm::Tag::Map) {
        message = "headers must be a map<string, string>";
        return false;
      }
      const vm::MapObj* h = v.as_map();
      for (size_t j = 0; j < h->size(); j++) {
        const std::string& name = h->keys[j];
        if (!is_token(name)) {
          message = "invalid header name \"" + excerpt(name, 100) + "\"";
          return false;
        }
        if (h->values[j].tag != vm::Tag::String) {
          message = "the value of header \"" + name + "\" must be a string";
          return false;
        }
        const std::string& value = h->values[j].as_string()->text;
        if (value.find_first_of("\r\n", 0) != std::string::npos || value.find('\0') != std::string::npos) {
          message = "the value of header \"" + name + "\" may not contain CR, LF or NUL";
          return false;
        }
        if (ascii_lower(name) == "content-type") has_content_type = true;
        out.headers.emplace_back(name, value);
      }
    } else if (key == "body") {
      body = &options->values[i];
    } else if (key == "timeout_ms" || key == "connect_timeout_ms") {
      if (v.tag != vm::Tag::Int || v.i < 0) {
        message = key + " must be an int >= 0";
        return false;
      }
      (key == "timeout_ms" ? out.timeout_ms : out.connect_timeout_ms) = uint64_t(v.i);
    } else {
      message = "unknown option \"" + excerpt(key, 100) + "\" (method, headers, body, timeout_ms, connect_timeout_ms)";
      return false;
    }
  }
  if (body && body->tag != vm::Tag::Null) {
    out.has_body = true;
    if (body->tag == vm::Tag::String) {
      out.body = body->as_string()->text;
    } else {
      try {
        json::serialize(*body, program, out.body, max_body, cancel_state);
      } catch (const json::Error& e) {
        message = std::string("the body cannot be sent as JSON: ") + e.what();
        return false;
      }
      if (!has_content_type) out.headers.emplace_back("content-type", "application/json");
    }
  }
  return true;
}

bool resolve_redirect(const std::string& base, const std::string& location, std::string& out, std::string& why) {
  Url ignored;
  if (location.find("://") != std::string::npos) {
    out = location;
  } else {
    size_t scheme_end = base.find("://");
    size_t path_start = base.find_first_of("/?#", scheme_end + 3);
    std::string origin = base.substr(0, path_start);
    if (location.rfind("//", 0) == 0) {
      out = base.substr(0, scheme_end + 1) + location;
    } else if (!location.empty() && location[0] == '/') {
      out = origin + location;
    } else {
      // Relative to the base's directory (its path up to the last '/').
      std::string path = path_start == std::string::npos ? "/" : base.substr(path_start);
      path = path.substr(0, path.find_first_of("?#"));
      out = origin + path.substr(0, path.rfind('/') + 1) + location;
    }
  }
  if (!parse_url(out, ignored, why)) {
    why = "the redirect to \"" + excerpt(location, 200) + "\" is not allowed: " + why;
    return false;
  }
  return true;
}

bool Policy::add_rule(std::string_view rule, std::string& why) {
  m_restricted = true;
  Rule r;
  std::string_view s = rule;
  if (s.size() > 2 && s[0] == '*' && s[1] == '.') {
    r.suffix = true;
    s = s.substr(1); // keep the dot
    std::string host;
    if (!split_host_port(s.substr(1), host, r.port, why)) {
      why = "network rule \"" + std::string(rule) + "\" has " + why;
      return false;
    }
    r.host = "." + host;
  } else if (!split_host_port(s, r.host, r.port, why)) {
    why = "network rule \"" + std::string(rule) + "\" has " + why;
    return false;
  }
  m_rules.push_back(std::move(r));
  return true;
}

bool Policy::allows(const Url& url) const {
  if (!m_restricted) return true;
  for (const Rule& r : m_rules) {
    if (r.port && r.port != url.port) continue;
    if (r.suffix) {
      if (url.host.size() > r.host.size() &&
          url.host.compare(url.host.size() - r.host.size(), r.host.size(), r.host) == 0)
        return true;
    } else if (url.host == r.host) {
      return true;
    }
  }
  return false;
}

} // namespace brake::http
