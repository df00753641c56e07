// provider.cpp: a primitive client's options resolved (ResolvedClient), the
// request of one attempt (the body is written by provider_openai.cpp or
// provider_anthropic.cpp), and the provider's reply read back.
//
// Decisions (BAML's documentation of each provider, docs.boundaryml.com
// "LLM Client Providers", unless said otherwise):
//   - Defaults: openai base_url https://api.openai.com/v1, api_key
//     env.OPENAI_API_KEY; openai-generic base_url required, api_key none;
//     ollama base_url http://localhost:11434/v1, api_key none; azure-openai
//     base_url https://{resource_name}.openai.azure.com/openai/deployments/
//     {deployment_id} (or base_url, not both), api_version required (the
//     api-version query parameter), api_key env.AZURE_OPENAI_API_KEY sent
//     as `api-key`; anthropic base_url https://api.anthropic.com, api_key
//     env.ANTHROPIC_API_KEY sent as `x-api-key`, `anthropic-version:
//     2023-06-01` unless headers give one, max_tokens 4096 unless given.
//     azure-openai also gets max_tokens 4096 unless max_tokens or
//     max_completion_tokens is given (BAML's request builder; the docs tell
//     reasoning-model users to write `max_tokens null`, which removes it).
//   - An empty api key sends no auth header (openai-generic's documented
//     rule, applied to every provider: an empty bearer token is no key).
//   - base_url loses its trailing slashes; "/chat/completions" (openai
//     family) or "/v1/messages" (anthropic) is appended. A base_url with a
//     query or fragment is refused (query_params adds parameters).
//   - Roles: allowed_roles defaults to [system, user, assistant] ([user,
//     assistant] for OpenAI's o1 models). default_role defaults to the
//     first allowed role for openai, openai-generic and azure-openai
//     ("system": BAML puts a prompt without roles in one system message),
//     and to "user" for ollama and anthropic (BAML's own defaults: small
//     models and Anthropic's messages want a user turn). An explicit
//     default_role and remap_roles' keys must be allowed roles.
//   - finish_reason lists compare without case (BAML >= 0.73); a reply
//     without a finish reason passes either list (nothing to judge).
//   - `http { connect_timeout_ms request_timeout_ms
//     time_to_first_token_timeout_ms idle_timeout_ms }`: whole numbers >= 0,
//     0 meaning none of the client's (BAML: "0 means infinite"; here the
//     engine's own limits still apply). request_timeout_ms must not be
//     below time_to_first_token_timeout_ms when both are set.
//   - query_params and client_response_type (openai or anthropic; BAML's
//     others are refused) are taken for every provider.
//   - media_url_handler is checked and otherwise ignored: brake sends media
//     as the prompt holds it (no download, this layer does no I/O).
//   - allowed_role_metadata is checked and kept; prompts carry no role
//     metadata yet, so nothing is forwarded.
//   - messages, stream (and anthropic's system) are set from the prompt and
//     the call: giving them as options is an error, as is giving an option
//     twice. azure-openai's Entra ID options (tenant_id, client_id,
//     client_secret) are refused: brake does not fetch tokens.
#include "llm/provider.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>

#include "common/utf8.h"
#include "llm/provider_internal.h"
#include "json/json.h"

namespace brake::llm {

namespace {

using lang::ConfigValue;
using Kind = ConfigValue::Kind;

// The options BAML keeps with the client: never sent in the body.
constexpr std::string_view kClientOptions[] = {
    "base_url",
    "api_key",
    "headers",
    "query_params",
    "default_role",
    "allowed_roles",
    "remap_roles",
    "allowed_role_metadata",
    "supports_streaming",
    "finish_reason_allow_list",
    "finish_reason_deny_list",
    "client_response_type",
    "media_url_handler",
    "http",
};

bool is_one_of(std::string_view key, const std::string_view* names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (key == names[i]) return true;
  return false;
}

bool is_openai_family(Provider p) { return p != Provider::Anthropic && !is_composite(p); }

// OpenAI's o1 models take no system messages and no streaming.
bool is_o1_model(std::string_view model) { return model == "o1" || model.substr(0, 3) == "o1-"; }

bool is_token_char(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

bool is_header_value(std::string_view s) {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void append_percent_encoded(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

bool contains(const std::vector<std::string>& list, std::string_view s) {
  for (const auto& x : list)
    if (x == s) return true;
  return false;
}

// Walks a client's options once, filling a ResolvedClient.
class Resolver {
public:
  Resolver(const ClientInfo& c, const Environment& env, EnvRule rule, ResolvedClient& out, std::string& error)
      : m_client(c), m_env(env), m_rule(rule), m_out(out), m_error(error) {}

  bool run() {
    if (is_composite(m_client.provider))
      return fail(std::string("a ") + provider_name(m_client.provider) + " client sends no request of its own");
    m_out = ResolvedClient{};
    m_out.name = m_client.name;
    m_out.provider = m_client.provider;
    m_out.response_shape = m_client.provider == Provider::Anthropic ? ResponseShape::Anthropic : ResponseShape::OpenAI;
    const auto& entries = m_client.options.entries;
    for (size_t i = 0; i < entries.size(); i++) {
      for (size_t j = 0; j < i; j++)
        if (entries[j].key == entries[i].key) return fail("option '" + entries[i].key + "' is given twice");
      m_option = entries[i].key;
      if (!option(entries[i].key, entries[i].value)) return false;
    }
    m_option.clear();
    return defaults() && roles() && finish_filter() && endpoint() && timeouts_agree();
  }

private:
  bool fail(std::string message) {
    m_error = "client '" + m_client.name + "': " + message;
    return false;
  }

  // The value of env.NAME.
  bool lookup(const std::string& name, std::string& s) {
    auto it = m_env.find(name);
    if (it == m_env.end()) {
      if (m_rule == EnvRule::MissingIsEmpty) {
        s.clear();
        return true;
      }
      m_out.missing_variable = name;
      return fail("environment variable " + name + " is not set" +
                  (m_option.empty() ? std::string() : " (option '" + m_option + "')"));
    }
    s = it->second;
    return true;
  }

  // A string, a bare word or env.NAME.
  bool text(const ConfigValue& v, const std::string& what, std::string& s) {
    if (v.kind == Kind::Env) return lookup(v.text, s);
    if (v.kind != Kind::String && v.kind != Kind::Word) return fail(what + " must be a string or env.NAME");
    s = v.text;
    return true;
  }

  bool text_list(const ConfigValue& v, const std::string& what, std::vector<std::string>& out) {
    if (v.kind != Kind::List) return fail(what + " must be a list of strings");
    out.clear();
    out.reserve(v.items.size());
    for (const ConfigValue& item : v.items) {
      std::string s;
      if (!text(item, "each of " + what, s)) return false;
      out.push_back(std::move(s));
    }
    return true;
  }

  bool option(const std::string& key, const ConfigValue& v) {
    bool azure = m_client.provider == Provider::AzureOpenAI;
    if (is_one_of(key, kClientOptions, std::size(kClientOptions))) return client_option(key, v);
    if (azure && (key == "resource_name" || key == "deployment_id" || key == "api_version")) {
      (key == "resource_name" ? m_resource_name : key == "deployment_id" ? m_deployment_id : m_api_version) = &v;
      return true;
    }
    if (azure && (key == "tenant_id" || key == "client_id" || key == "client_secret"))
      return fail("Entra ID authentication (" + key + ") is not supported: give api_key");
    if (key == "messages" || key == "stream" || (key == "system" && m_client.provider == Provider::Anthropic))
      return fail("'" + key + "' is set from the prompt and the call, not from options");
    return forward(key, v);
  }

  // An option that goes into the request body.
  bool forward(const std::string& key, const ConfigValue& v) {
    bool null_value = v.kind == Kind::Word && v.text == "null";
    if (key == "max_tokens") {
      m_saw_max_tokens = true;
      // azure-openai: `max_tokens null` removes BAML's default.
      if (null_value && m_client.provider == Provider::AzureOpenAI) return true;
    }
    if (key == "max_completion_tokens") m_saw_max_completion_tokens = true;
    if (key == "stream_options") m_out.has_stream_options = true;
    if (key == "model" && !null_value && !text(v, "model", m_out.model)) return false;
    std::string& body = m_out.body_options;
    if (!body.empty()) body += ',';
    json::append_string(body, key);
    body += ':';
    return json_value(v, body);
  }

  bool json_value(const ConfigValue& v, std::string& out) {
    switch (v.kind) {
    case Kind::String: json::append_string(out, v.text); return true;
    case Kind::Word:
      if (v.text == "null")
        out += "null";
      else
        json::append_string(out, v.text);
      return true;
    case Kind::Int: append_int(out, v.int_value); return true;
    case Kind::Float: {
      if (!std::isfinite(v.float_value)) return fail("option '" + m_option + "' is not a finite number");
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v.float_value);
      out.append(buf, r.ptr);
      if (std::string_view(buf, size_t(r.ptr - buf)).find_first_of(".e") == std::string_view::npos) out += ".0";
      return true;
    }
    case Kind::Bool: out += v.bool_value ? "true" : "false"; return true;
    case Kind::Env: {
      std::string s;
      if (!lookup(v.text, s)) return false;
      json::append_string(out, s);
      return true;
    }
    case Kind::List:
      out += '[';
      for (size_t i = 0; i < v.items.size(); i++) {
        if (i) out += ',';
        if (!json_value(v.items[i], out)) return false;
      }
      out += ']';
      return true;
    case Kind::Block:
      out += '{';
      for (size_t i = 0; i < v.entries.size(); i++) {
        if (i) out += ',';
        json::append_string(out, v.entries[i].key);
        out += ':';
        if (!json_value(v.entries[i].value, out)) return false;
      }
      out += '}';
      return true;
    }
    return fail("option '" + m_option + "' has a value JSON cannot hold");
  }

  bool client_option(const std::string& key, const ConfigValue& v) {
    if (key == "headers") return headers(v);
    if (key == "query_params") return query_params(v);
    if (key == "allowed_role_metadata") return role_metadata(v);
    if (key == "client_response_type") return response_type(v);
    if (key == "media_url_handler") return media_url_handler(v);
    if (key == "http") return http_timeouts(v);
    // The others are read once every option is known (roles need the model).
    const ConfigValue** slot = key == "base_url"                   ? &m_base_url
                               : key == "api_key"                  ? &m_api_key
                               : key == "default_role"             ? &m_default_role
                               : key == "allowed_roles"            ? &m_allowed_roles
                               : key == "remap_roles"              ? &m_remap_roles
                               : key == "supports_streaming"       ? &m_supports_streaming
                               : key == "finish_reason_allow_list" ? &m_allow_list
                                                                   : &m_deny_list;
    *slot = &v;
    return true;
  }

  // headers { "name" "value" ... }: names are HTTP tokens, values have no
  // line breaks (after env.NAME is read).
  bool headers(const ConfigValue& v) {
    if (v.kind != Kind::Block) return fail("headers must be a block { \"name\" \"value\" }");
    for (const auto& e : v.entries) {
      if (!is_token(e.key)) return fail("header name '" + e.key + "' is not a valid HTTP header name");
      std::string value;
      if (!text(e.value, "header '" + e.key + "'", value)) return false;
      if (!is_header_value(value)) return fail("header '" + e.key + "' has a line break or NUL in its value");
      m_headers.emplace_back(e.key, std::move(value));
    }
    return true;
  }

  bool query_params(const ConfigValue& v) {
    if (v.kind != Kind::Block) return fail("query_params must be a block { name \"value\" }");
    for (const auto& e : v.entries) {
      std::string value;
      if (!text(e.value, "query parameter '" + e.key + "'", value)) return false;
      m_query.emplace_back(e.key, std::move(value));
    }
    return true;
  }

  // allowed_role_metadata ["key", ...] | "all" | "none"
  bool role_metadata(const ConfigValue& v) {
    if ((v.kind == Kind::String || v.kind == Kind::Word) && (v.text == "all" || v.text == "none")) {
      m_out.role_metadata = v.text == "all" ? RoleMetadata::All : RoleMetadata::None;
      return true;
    }
    if (v.kind != Kind::List) return fail("allowed_role_metadata must be a list of keys, \"all\" or \"none\"");
    m_out.role_metadata = RoleMetadata::Only;
    return text_list(v, "allowed_role_metadata", m_out.allowed_role_metadata);
  }

  bool response_type(const ConfigValue& v) {
    if (v.kind != Kind::String && v.kind != Kind::Word)
      return fail("client_response_type must be \"openai\" or \"anthropic\" (not env.NAME)");
    if (v.text == "openai")
      m_out.response_shape = ResponseShape::OpenAI;
    else if (v.text == "anthropic")
      m_out.response_shape = ResponseShape::Anthropic;
    else if (v.text == "openai-responses" || v.text == "google" || v.text == "vertex")
      return fail("client_response_type \"" + v.text + "\" is not supported (brake reads openai and anthropic)");
    else
      return fail("client_response_type must be \"openai\" or \"anthropic\", not \"" + v.text + "\"");
    return true;
  }

  // media_url_handler { image|audio|pdf|video send_base64|send_url|... }
  bool media_url_handler(const ConfigValue& v) {
    if (v.kind != Kind::Block) return fail("media_url_handler must be a block { image \"send_url\" ... }");
    for (const auto& e : v.entries) {
      if (e.key != "image" && e.key != "audio" && e.key != "pdf" && e.key != "video")
        return fail("unknown media_url_handler key '" + e.key + "' (image, audio, pdf, video)");
      const std::string& mode = e.value.text;
      bool word = e.value.kind == Kind::String || e.value.kind == Kind::Word;
      if (!word || (mode != "send_base64" && mode != "send_url" && mode != "send_url_add_mime_type" &&
                    mode != "send_base64_unless_google_url"))
        return fail("media_url_handler." + e.key +
                    " must be send_base64, send_url, send_url_add_mime_type or send_base64_unless_google_url");
    }
    return true;
  }

  // http { connect_timeout_ms N request_timeout_ms N time_to_first_token_timeout_ms N idle_timeout_ms N }
  bool http_timeouts(const ConfigValue& v) {
    if (v.kind != Kind::Block) return fail("http must be a block { request_timeout_ms N ... }");
    for (const auto& e : v.entries) {
      uint64_t* field = e.key == "connect_timeout_ms"               ? &m_out.connect_timeout_ms
                        : e.key == "request_timeout_ms"             ? &m_out.request_timeout_ms
                        : e.key == "time_to_first_token_timeout_ms" ? &m_out.time_to_first_token_timeout_ms
                        : e.key == "idle_timeout_ms"                ? &m_out.idle_timeout_ms
                                                                    : nullptr;
      if (!field && e.key == "total_timeout_ms")
        return fail("http.total_timeout_ms is for fallback and round-robin clients; this client takes "
                    "connect_timeout_ms, request_timeout_ms, time_to_first_token_timeout_ms, idle_timeout_ms");
      if (!field)
        return fail("unknown http option '" + e.key +
                    "' (connect_timeout_ms, request_timeout_ms, time_to_first_token_timeout_ms, idle_timeout_ms)");
      if (e.value.kind != Kind::Int || e.value.int_value < 0)
        return fail("http." + e.key + " must be a whole number of milliseconds, 0 or more");
      *field = uint64_t(e.value.int_value);
    }
    return true;
  }

  bool timeouts_agree() {
    if (m_out.request_timeout_ms && m_out.time_to_first_token_timeout_ms &&
        m_out.request_timeout_ms < m_out.time_to_first_token_timeout_ms)
      return fail("http.request_timeout_ms (" + std::to_string(m_out.request_timeout_ms) +
                  ") is below http.time_to_first_token_timeout_ms (" +
                  std::to_string(m_out.time_to_first_token_timeout_ms) + ")");
    return true;
  }

  // Options the provider adds when the client leaves them out.
  bool defaults() {
    Provider p = m_client.provider;
    bool add_max_tokens =
        !m_saw_max_tokens && (p == Provider::Anthropic || (p == Provider::AzureOpenAI && !m_saw_max_completion_tokens));
    if (add_max_tokens) {
      if (!m_out.body_options.empty()) m_out.body_options += ',';
      m_out.body_options += "\"max_tokens\":4096";
    }
    bool o1 = is_openai_family(m_client.provider) && is_o1_model(m_out.model);
    m_out.supports_streaming = !o1;
    if (m_supports_streaming) {
      if (m_supports_streaming->kind != Kind::Bool) return fail("supports_streaming must be true or false");
      m_out.supports_streaming = m_supports_streaming->bool_value;
    }
    return true;
  }

  bool roles() {
    bool o1 = is_openai_family(m_client.provider) && is_o1_model(m_out.model);
    std::string option_name = m_option;
    if (m_allowed_roles) {
      m_option = "allowed_roles";
      if (!text_list(*m_allowed_roles, "allowed_roles", m_out.allowed_roles)) return false;
      if (m_out.allowed_roles.empty()) return fail("allowed_roles must not be empty");
    } else if (o1) {
      m_out.allowed_roles = {"user", "assistant"};
    } else {
      m_out.allowed_roles = {"system", "user", "assistant"};
    }
    const auto& allowed = m_out.allowed_roles;
    if (m_default_role) {
      m_option = "default_role";
      if (!text(*m_default_role, "default_role", m_out.default_role)) return false;
      if (!contains(allowed, m_out.default_role))
        return fail("default_role '" + m_out.default_role + "' is not one of allowed_roles (" + joined(allowed) + ")");
    } else if (m_client.provider == Provider::Anthropic || m_client.provider == Provider::Ollama) {
      m_out.default_role = contains(allowed, "user") ? "user" : allowed[0];
    } else {
      m_out.default_role = allowed[0];
    }
    if (m_remap_roles) {
      m_option = "remap_roles";
      if (m_remap_roles->kind != Kind::Block) return fail("remap_roles must be a block { from \"to\" }");
      for (const auto& e : m_remap_roles->entries) {
        if (!contains(allowed, e.key))
          return fail("remap_roles renames '" + e.key + "', which is not one of allowed_roles (" + joined(allowed) +
                      ")");
        std::string to;
        if (!text(e.value, "remap_roles." + e.key, to)) return false;
        m_out.remap_roles.emplace_back(e.key, std::move(to));
      }
    }
    m_option = option_name;
    return true;
  }

  static std::string joined(const std::vector<std::string>& list) {
    std::string s;
    for (const auto& x : list) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  bool finish_filter() {
    if (m_allow_list && m_deny_list)
      return fail("finish_reason_allow_list and finish_reason_deny_list cannot be used together");
    const ConfigValue* list = m_allow_list ? m_allow_list : m_deny_list;
    if (!list) return true;
    m_option = m_allow_list ? "finish_reason_allow_list" : "finish_reason_deny_list";
    if (!text_list(*list, m_option, m_out.finish_reasons)) return false;
    for (auto& r : m_out.finish_reasons) r = http::ascii_lower(r);
    m_out.finish_filter = m_allow_list ? FinishFilter::AllowList : FinishFilter::DenyList;
    m_option.clear();
    return true;
  }

  // The URL, and the auth and version headers.
  bool endpoint() {
    std::string base, path = "/chat/completions", key, key_header = "authorization", key_prefix = "Bearer ";
    const char* default_key_variable = nullptr;
    m_option = "base_url";
    switch (m_client.provider) {
    case Provider::OpenAI:
      base = "https://api.openai.com/v1";
      default_key_variable = "OPENAI_API_KEY";
      break;
    case Provider::OpenAIGeneric:
      if (!m_base_url) return fail("openai-generic needs options { base_url \"https://.../v1\" }");
      break;
    case Provider::Ollama: base = "http://localhost:11434/v1"; break;
    case Provider::AzureOpenAI:
      if (!azure_base(base)) return false;
      default_key_variable = "AZURE_OPENAI_API_KEY";
      key_header = "api-key";
      key_prefix.clear();
      break;
    case Provider::Anthropic:
      base = "https://api.anthropic.com";
      path = "/v1/messages";
      default_key_variable = "ANTHROPIC_API_KEY";
      key_header = "x-api-key";
      key_prefix.clear();
      break;
    case Provider::Fallback:
    case Provider::RoundRobin: return false; // refused in run()
    }
    if (m_base_url && !text(*m_base_url, "base_url", base)) return false;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.find_first_of("?#") != std::string::npos)
      return fail("base_url '" + base + "' has a query or fragment (give query parameters in query_params)");
    m_option = "api_key";
    if (m_api_key) {
      if (!text(*m_api_key, "api_key", key)) return false;
    } else if (default_key_variable) {
      auto it = m_env.find(default_key_variable);
      if (it == m_env.end() && m_rule == EnvRule::MissingIsEmpty) {
        key.clear();
      } else if (it == m_env.end()) {
        m_out.missing_variable = default_key_variable;
        return fail(std::string("environment variable ") + default_key_variable + " is not set (" +
                    provider_name(m_client.provider) + "'s api_key defaults to env." + default_key_variable + ")");
      } else {
        key = it->second;
      }
    }
    if (!is_header_value(key)) return fail("api_key has a line break or NUL in it");
    m_option.clear();
    m_out.url = base + path;
    if (!query_string()) return false;
    std::string why;
    if (!http::parse_url(m_out.url, m_out.parsed_url, why))
      return fail("the URL '" + m_out.url + "' is not usable: " + why);

    auto& h = m_out.headers;
    h.reserve(m_headers.size() + 3);
    add_default_header("content-type", "application/json");
    if (!key.empty()) add_default_header(key_header, key_prefix + key);
    if (m_client.provider == Provider::Anthropic) add_default_header("anthropic-version", "2023-06-01");
    for (auto& kv : m_headers) h.push_back(std::move(kv));
    return true;
  }

  // base_url, or resource_name and deployment_id.
  bool azure_base(std::string& base) {
    if (m_base_url && (m_resource_name || m_deployment_id))
      return fail("give either base_url or resource_name and deployment_id, not both");
    if (m_base_url) return true;
    if (!m_resource_name || !m_deployment_id) {
      if (m_resource_name) return fail("deployment_id must be given with resource_name");
      if (m_deployment_id) return fail("resource_name must be given with deployment_id");
      return fail("azure-openai needs base_url, or resource_name and deployment_id");
    }
    std::string resource, deployment;
    m_option = "resource_name";
    if (!text(*m_resource_name, "resource_name", resource)) return false;
    // One label of the host name.
    bool label = !resource.empty() && resource.front() != '-' && resource.back() != '-';
    for (unsigned char ch : resource)
      label &= (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
    if (!label) return fail("resource_name '" + resource + "' is not a host name label (letters, digits, '-')");
    m_option = "deployment_id";
    if (!text(*m_deployment_id, "deployment_id", deployment)) return false;
    base = "https://" + resource + ".openai.azure.com/openai/deployments/";
    append_percent_encoded(base, deployment);
    return true;
  }

  // "?name=value&..." from api_version (azure-openai) and query_params.
  bool query_string() {
    bool has_version = false;
    for (const auto& kv : m_query) has_version |= kv.first == "api-version";
    if (m_client.provider == Provider::AzureOpenAI && !has_version) {
      if (!m_api_version)
        return fail("azure-openai needs options { api_version \"2024-10-21\" } (sent as api-version)");
      std::string version;
      m_option = "api_version";
      if (!text(*m_api_version, "api_version", version)) return false;
      m_query.insert(m_query.begin(), {"api-version", std::move(version)});
    }
    for (size_t i = 0; i < m_query.size(); i++) {
      m_out.url += i ? '&' : '?';
      append_percent_encoded(m_out.url, m_query[i].first);
      m_out.url += '=';
      append_percent_encoded(m_out.url, m_query[i].second);
    }
    return true;
  }

  void add_default_header(const std::string& name, std::string value) {
    for (const auto& kv : m_headers)
      if (http::ascii_iequals(kv.first, name)) return;
    m_out.headers.emplace_back(name, std::move(value));
  }

  const ClientInfo& m_client;
  const Environment& m_env;
  EnvRule m_rule;
  ResolvedClient& m_out;
  std::string& m_error;
  std::string m_option; // the option being read (for messages)

  const ConfigValue* m_base_url = nullptr;
  const ConfigValue* m_api_key = nullptr;
  const ConfigValue* m_default_role = nullptr;
  const ConfigValue* m_allowed_roles = nullptr;
  const ConfigValue* m_remap_roles = nullptr;
  const ConfigValue* m_supports_streaming = nullptr;
  const ConfigValue* m_allow_list = nullptr;
  const ConfigValue* m_deny_list = nullptr;
  const ConfigValue* m_resource_name = nullptr;
  const ConfigValue* m_deployment_id = nullptr;
  const ConfigValue* m_api_version = nullptr;
  std::vector<std::pair<std::string, std::string>> m_headers;
  std::vector<std::pair<std::string, std::string>> m_query;
  bool m_saw_max_tokens = false;
  bool m_saw_max_completion_tokens = false;
};

} // namespace

bool resolve_client(const ClientInfo& c, const Environment& env, ResolvedClient& out, std::string& error, EnvRule rule) {
  return Resolver(c, env, rule, out, error).run();
}

std::string_view role_for(const ResolvedClient& c, std::string_view role) {
  std::string_view r = role;
  if (r.empty() || !contains(c.allowed_roles, r)) r = c.default_role;
  for (const auto& [from, to] : c.remap_roles)
    if (from == r) return to;
  return r;
}

// ---------------------------------------------------------------- requests

namespace detail {

bool append_base64(std::string& out, std::string_view data) {
  size_t run = 0;
  for (size_t i = 0; i < data.size(); i++) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
               c == '=' || c == '-' || c == '_';
    if (b64) continue;
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
    out.append(data.data() + run, i - run);
    run = i + 1;
  }
  out.append(data.data() + run, data.size() - run);
  return true;
}

bool plain_mime(std::string_view mime) {
  if (mime.find('/') == std::string_view::npos) return false;
  for (unsigned char c : mime)
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '\\') return false;
  return true;
}

const char* media_kind_name(Media::Kind k) {
  switch (k) {
  case Media::Kind::Image: return "image";
  case Media::Kind::Audio: return "audio";
  case Media::Kind::Pdf: return "pdf";
  case Media::Kind::Video: return "video";
  }
  return "media";
}

} // namespace detail

namespace {

// A bound on the body's size, so it is written into one allocation
// (escaping may add a little: the string then grows once).
size_t body_estimate(const ResolvedClient& c, const RenderedPrompt& p) {
  size_t n = c.body_options.size() + 96;
  for (const PromptMessage& m : p.messages) {
    n += 48 + m.role.size();
    for (const PromptPart& part : m.parts) {
      const Media& media = part.media;
      n += part.kind == PromptPart::Kind::Text ? part.text.size() + part.text.size() / 16 + 32
                                               : media.url.size() + media.base64.size() + media.mime_type.size() + 96;
    }
  }
  return n;
}

} // namespace

bool build_request(const ResolvedClient& c, const RenderedPrompt& prompt, http::Request& out, std::string& error,
                   RequestMode mode) {
  if (prompt.messages.empty()) {
    error = "the prompt has no messages";
    return false;
  }
  out.url = c.url;
  out.parsed = c.parsed_url;
  out.method = "POST";
  out.headers = c.headers;
  out.has_body = true;
  out.timeout_ms = c.request_timeout_ms;
  out.connect_timeout_ms = c.connect_timeout_ms;
  out.body.clear();
  out.body.reserve(body_estimate(c, prompt));
  return c.provider == Provider::Anthropic ? detail::build_anthropic_body(c, prompt, mode, out.body, error)
                                           : detail::build_openai_body(c, prompt, mode, out.body, error);
}

// ---------------------------------------------------------------- replies

namespace {

// This thread's simdjson parser and padding buffer, kept between replies
// (workers are long-lived threads); after a document over 64 KiB both are
// dropped rather than kept for good (as json.cpp does). A parsed element
// lives until the Json that made it is gone.
constexpr size_t kKeepBytes = size_t(64) << 10;

class Json {
public:
  Json() {
    if (!parser()) parser() = std::make_unique<simdjson::dom::parser>();
  }
  ~Json() {
    if (parser()->capacity() > kKeepBytes) parser().reset();
    if (scratch().capacity() > kKeepBytes) std::string().swap(scratch());
  }
  Json(const Json&) = delete;
  Json& operator=(const Json&) = delete;

  // simdjson reads a few bytes past the text: a body with the room for it
  // in its own allocation is read in place, others are copied once.
  simdjson::error_code parse(const std::string& text, simdjson::dom::element& out) {
    if (text.capacity() - text.size() >= simdjson::SIMDJSON_PADDING)
      return parser()->parse(text.data(), text.size(), false).get(out);
    std::string& s = scratch();
    s.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    s.assign(text);
    return parser()->parse(s.data(), s.size(), false).get(out);
  }

  // A text in someone else's buffer (a stream event's data): copied once.
  simdjson::error_code parse(std::string_view text, simdjson::dom::element& out) {
    std::string& s = scratch();
    s.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    s.assign(text);
    return parser()->parse(s.data(), s.size(), false).get(out);
  }

private:
  static std::unique_ptr<simdjson::dom::parser>& parser() {
    thread_local std::unique_ptr<simdjson::dom::parser> p;
    return p;
  }
  static std::string& scratch() {
    thread_local std::string s;
    return s;
  }
};

// The start of a body as valid UTF-8 (invalid bytes become U+FFFD).
std::string excerpt(std::string_view body, size_t max_bytes) {
  std::string_view head = body.substr(0, max_bytes);
  if (is_valid_utf8(head)) return std::string(utf8_prefix(head, max_bytes));
  // A cut code point at the end is not worth a replacement character.
  std::string_view shorter = utf8_prefix(head, max_bytes);
  if (shorter.size() + 4 > head.size() && is_valid_utf8(shorter)) return std::string(shorter);
  std::string lossy;
  append_lossy_utf8(lossy, head);
  return std::string(utf8_prefix(lossy, max_bytes));
}

// Whole milliseconds in "123" or "123.45" (OpenAI's retry-after-ms); -1 otherwise.
int64_t parse_milliseconds(std::string_view s) {
  s = http::trim_ows(s);
  double ms = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), ms);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !(ms >= 0) || ms > 1e15) return -1;
  return int64_t(std::ceil(ms));
}

int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t retry_after_of(const http::Answer& a) {
  int64_t from_ms = -1, from_header = -1;
  for (const auto& [name, value] : a.headers) {
    if (name == "retry-after-ms")
      from_ms = parse_milliseconds(value);
    else if (name == "retry-after")
      from_header = parse_retry_after(value, unix_now_ms());
  }
  return from_ms >= 0 ? from_ms : from_header;
}

// A reason phrase for the statuses providers use.
const char* reason_phrase(long status) {
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 422: return "Unprocessable Entity";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 529: return "Overloaded";
  default: return nullptr;
  }
}

void status_failure(const http::Answer& a, ProviderReply& r) {
  r.failure = ProviderReply::Failure::Status;
  r.body_excerpt = excerpt(a.body, kBodyExcerptBytes);
  r.retry_after_ms = retry_after_of(a);
  r.error = "HTTP " + std::to_string(a.status);
  if (const char* phrase = reason_phrase(a.status)) r.error += std::string(" ") + phrase;
  std::string_view message;
  Json json;
  simdjson::dom::element root;
  if (!a.body.empty() && json.parse(a.body, root) == simdjson::SUCCESS) message = detail::error_message_of(root);
  if (!message.empty())
    r.error += ": " + excerpt(message, kBodyExcerptBytes);
  else if (a.body.empty())
    r.error += " (empty body)";
  else
    r.error += ": " + excerpt(a.body, 200);
}

// Whether the client's lists let `reason` through; the message when not.
bool finish_reason_allowed(const ResolvedClient& c, std::string_view reason, std::string& why) {
  if (c.finish_filter == FinishFilter::All || reason.empty()) return true;
  bool listed = false;
  for (const auto& r : c.finish_reasons) listed |= http::ascii_iequals(r, reason);
  bool allow = c.finish_filter == FinishFilter::AllowList;
  if (listed == allow) return true;
  std::string list;
  for (const auto& r : c.finish_reasons) list += (list.empty() ? "" : ", ") + r;
  why = "finish reason '" + std::string(reason) +
        (allow ? "' is not in finish_reason_allow_list [" : "' is in finish_reason_deny_list [") + list + "]";
  return false;
}

} // namespace

namespace detail {

std::string_view error_message_of(simdjson::dom::element root) {
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return {};
  std::string_view s;
  simdjson::dom::element error;
  if (!obj["error"].get(error)) {
    if (!error.get_string().get(s)) return s;
    if (!error["message"].get_string().get(s)) return s;
  }
  if (!obj["message"].get_string().get(s)) return s;
  if (!obj["detail"].get_string().get(s)) return s;
  return {};
}

} // namespace detail

ProviderReply read_response(const ResolvedClient& c, const http::Answer& answer) {
  ProviderReply r;
  if (answer.failed) {
    r.failure = ProviderReply::Failure::Transport;
    r.error = answer.error.empty() ? "the request failed before a response arrived" : answer.error;
    return r;
  }
  r.status = answer.status;
  if (answer.status < 200 || answer.status > 299) {
    status_failure(answer, r);
    return r;
  }
  {
    Json json;
    simdjson::dom::element root;
    simdjson::error_code err = json.parse(answer.body, root);
    bool ok = false;
    if (answer.body.empty())
      r.error = "the response body is empty";
    else if (err)
      r.error = std::string("the response is not valid JSON (") + simdjson::error_message(err) + ")";
    else if (c.response_shape == ResponseShape::Anthropic)
      ok = detail::read_anthropic_reply(root, r);
    else
      ok = detail::read_openai_reply(root, r);
    if (!ok) {
      r.failure = ProviderReply::Failure::Response;
      r.text.clear();
      r.finish_reason.clear();
      r.body_excerpt = excerpt(answer.body, kBodyExcerptBytes);
      return r;
    }
  }
  if (!finish_reason_allowed(c, r.finish_reason, r.error)) {
    r.failure = ProviderReply::Failure::FinishReason;
    return r;
  }
  r.outcome = ProviderReply::Outcome::Ok;
  return r;
}

// ---------------------------------------------------------------- streams

StreamEvent read_stream_event(const ResolvedClient& c, std::string_view event, std::string_view data, StreamState& s,
                              std::string& error) {
  bool anthropic = c.response_shape == ResponseShape::Anthropic;
  if (!anthropic && http::trim_ows(data) == "[DONE]") {
    s.done = true;
    return StreamEvent::Done;
  }
  Json json;
  simdjson::dom::element root;
  simdjson::error_code err = json.parse(data, root);
  if (err) {
    error = std::string("a stream event is not valid JSON (") + simdjson::error_message(err) + ")";
    return StreamEvent::Failed;
  }
  return anthropic ? detail::read_anthropic_event(event, root, s, error) : detail::read_openai_event(root, s, error);
}

ProviderReply finish_stream(const ResolvedClient& c, StreamState& s) {
  ProviderReply r;
  r.text = std::move(s.text);
  r.finish_reason = s.finish_reason;
  if (!s.done && s.finish_reason.empty()) {
    r.failure = ProviderReply::Failure::Response;
    r.error = "the stream ended before the reply was complete";
    return r;
  }
  if (!finish_reason_allowed(c, r.finish_reason, r.error)) {
    r.failure = ProviderReply::Failure::FinishReason;
    return r;
  }
  r.outcome = ProviderReply::Outcome::Ok;
  return r;
}

// ---------------------------------------------------------------- retry-after

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (the usual era-based
// count: 400-year eras of 146097 days, years starting in March).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = unsigned(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

int month_of(std::string_view s) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; i++)
    if (s == kMonths[i]) return i + 1;
  return 0;
}

bool weekday(std::string_view s) {
  static const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static const char* kLong[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  for (int i = 0; i < 7; i++)
    if (s == kDays[i] || s == kLong[i]) return true;
  return false;
}

// "HH:MM:SS" as seconds of the day; -1 otherwise.
int time_of_day(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return -1;
  std::string_view h = s.substr(0, 2), m = s.substr(3, 2), sec = s.substr(6, 2);
  if (!all_digits(h) || !all_digits(m) || !all_digits(sec)) return -1;
  int hh = number(h), mm = number(m), ss = number(sec);
  if (hh > 23 || mm > 59 || ss > 60) return -1;
  return hh * 3600 + mm * 60 + ss;
}

// The three forms of RFC 9110's HTTP-date, as seconds since the epoch:
//   Sun, 06 Nov 1994 08:49:37 GMT     (IMF-fixdate)
//   Sunday, 06-Nov-94 08:49:37 GMT    (RFC 850; a two-digit year below 70 is 20xx)
//   Sun Nov  6 08:49:37 1994          (asctime)
bool parse_http_date(std::string_view s, int64_t& out) {
  std::string_view tokens[7];
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '-')) i++;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != ',' && s[i] != '-') i++;
    if (i == start) break;
    if (n == 7) return false;
    tokens[n++] = s.substr(start, i - start);
  }
  std::string_view day, month, year, time;
  if (n == 6 && tokens[5] == "GMT") {
    day = tokens[1], month = tokens[2], year = tokens[3], time = tokens[4];
  } else if (n == 5) {
    month = tokens[1], day = tokens[2], time = tokens[3], year = tokens[4];
  } else {
    return false;
  }
  if (!weekday(tokens[0]) || !all_digits(day) || day.size() > 2 || !all_digits(year) ||
      (year.size() != 2 && year.size() != 4))
    return false;
  int m = month_of(month), d = number(day), y = number(year), secs = time_of_day(time);
  if (year.size() == 2) y += y < 70 ? 2000 : 1900;
  static const int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 0 || d < 1 || d > kDaysIn[m - 1] || secs < 0) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap) return false;
  out = days_from_civil(y, unsigned(m), unsigned(d)) * 86400 + secs;
  return true;
}

} // namespace

int64_t parse_retry_after(std::string_view value, int64_t now_unix_ms) {
  std::string_view s = http::trim_ows(value);
  if (all_digits(s)) {
    if (s.size() > 12) return -1; // past 31,000 years: not a delay anyone means
    int64_t seconds = 0;
    for (char c : s) seconds = seconds * 10 + (c - '0');
    return seconds * 1000;
  }
  int64_t at = 0;
  if (!parse_http_date(s, at)) return -1;
  int64_t delay = at * 1000 - now_unix_ms;
  return delay > 0 ? delay : 0;
}

} // namespace brake::llm
