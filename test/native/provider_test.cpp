// provider_test.cpp: the LLM providers (llm/provider.h): clients' options
// resolved against the engine's environment, the exact request of each
// provider (URL, headers, body compared as JSON after parsing, key order
// aside), and every reply the providers (and test/support/mock-llm.mjs)
// give: success, error bodies, malformed and wrong-shaped JSON, finish
// reason lists, retry-after in all its forms.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <string>
#include <thread>
#include <vector>

#include "llm/provider.h"
#include "test_util.h"
#include "vm/chunk.h"
#include "vm/value.h"
#include "json/json.h"

using namespace brake;
using llm::ProviderReply;
using Failure = llm::ProviderReply::Failure;

namespace {

// ---------------------------------------------------------------- helpers

const char* kTestEnv[][2] = {
    {"OPENAI_API_KEY", "sk-openai"},
    {"ANTHROPIC_API_KEY", "sk-ant"},
    {"AZURE_OPENAI_API_KEY", "az-key"},
    {"MY_KEY", "sk-mine"},
    {"TEAM", "blue"},
    {"MODEL", "gpt-4o-mini"},
};

llm::Environment test_env() {
  llm::Environment env;
  for (auto& kv : kTestEnv) env[kv[0]] = kv[1];
  return env;
}

// The first client of `source` (which must compile).
llm::ClientInfo client_of(const std::string& source) {
  auto p = vm::compile_program(source + "\nfunction f() -> int { 1 }", "t.baml");
  for (const auto& d : p->diagnostics.items())
    fprintf(stderr, "compile: %d:%d %s\n", d.loc.line, d.loc.column, d.message.c_str());
  if (p->clients.empty()) {
    fprintf(stderr, "no client in: %s\n", source.c_str());
    abort();
  }
  return p->clients[0];
}

struct Resolved {
  bool ok = false;
  llm::ResolvedClient client;
  std::string error;
};

Resolved resolve(const std::string& source, const llm::Environment& env = test_env()) {
  Resolved r;
  r.ok = llm::resolve_client(client_of(source), env, r.client, r.error);
  return r;
}

llm::ResolvedClient resolved(const std::string& source, int line) {
  Resolved r = resolve(source);
  if (!r.ok) {
    fprintf(stderr, "line %d: resolve failed: %s\n", line, r.error.c_str());
    g_failures++;
  }
  return r.client;
}
#define RESOLVED(source) resolved(source, __LINE__)

void expect_resolve_error(const std::string& source, const std::string& expected, int line,
                          const llm::Environment& env = test_env()) {
  Resolved r = resolve(source, env);
  if (r.ok || r.error != expected) {
    fprintf(stderr, "line %d:\n  expected error: %s\n  got:            %s\n", line, expected.c_str(),
            r.ok ? "(resolved)" : r.error.c_str());
    g_failures++;
  }
}
#define RESOLVE_ERROR(source, expected) expect_resolve_error(source, expected, __LINE__)

// JSON text with object keys sorted at every level (so two texts compare
// equal when they hold the same value); "invalid JSON: ..." otherwise.
void canonical(vm::Value v, std::string& out) {
  switch (v.tag) {
  case vm::Tag::Null: out += "null"; return;
  case vm::Tag::Bool: out += v.b ? "true" : "false"; return;
  case vm::Tag::Int: out += std::to_string(v.i); return;
  case vm::Tag::Float: {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v.f);
    out.append(buf, r.ptr);
    out += 'f';
    return;
  }
  case vm::Tag::String: json::append_string(out, v.as_string()->text); return;
  case vm::Tag::Array: {
    out += '[';
    const auto& items = v.as_array()->items;
    for (size_t i = 0; i < items.size(); i++) {
      if (i) out += ',';
      canonical(items[i], out);
    }
    out += ']';
    return;
  }
  case vm::Tag::Map: {
    const vm::MapObj* m = v.as_map();
    std::vector<size_t> order(m->keys.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return m->keys[a] < m->keys[b]; });
    out += '{';
    for (size_t i = 0; i < order.size(); i++) {
      if (i) out += ',';
      json::append_string(out, m->keys[order[i]]);
      out += ':';
      canonical(m->values[order[i]], out);
    }
    out += '}';
    return;
  }
  default: out += "?"; return;
  }
}

std::string canonical(const std::string& text) {
  vm::Heap heap;
  try {
    std::string out;
    canonical(json::parse(text, heap, nullptr), out);
    return out;
  } catch (const std::exception& e) {
    return std::string("invalid JSON: ") + e.what() + ": " + text;
  }
}

void expect_json(const std::string& actual, const std::string& expected, int line) {
  std::string a = canonical(actual), e = canonical(expected);
  if (a != e) {
    fprintf(stderr, "line %d: JSON differs\n  expected: %s\n  got:      %s\n", line, e.c_str(), a.c_str());
    g_failures++;
  }
}
#define JSON_EQ(actual, expected) expect_json(actual, expected, __LINE__)

void expect_str(const std::string& actual, const std::string& expected, int line) {
  if (actual != expected) {
    fprintf(stderr, "line %d:\n  expected: %s\n  got:      %s\n", line, expected.c_str(), actual.c_str());
    g_failures++;
  }
}
#define STR_EQ(actual, expected) expect_str(actual, expected, __LINE__)

// "name: value" lines of a request's headers, in order.
std::string headers_of(const http::Request& r) {
  std::string out;
  for (const auto& [k, v] : r.headers) out += (out.empty() ? "" : "\n") + k + ": " + v;
  return out;
}

llm::PromptPart text_part(std::string s) {
  llm::PromptPart p;
  p.text = std::move(s);
  return p;
}

llm::PromptPart media_part(llm::Media::Kind kind, std::string url, std::string base64, std::string mime) {
  llm::PromptPart p;
  p.kind = llm::PromptPart::Kind::Media;
  p.media.kind = kind;
  p.media.url = std::move(url);
  p.media.base64 = std::move(base64);
  p.media.mime_type = std::move(mime);
  return p;
}

llm::PromptMessage message(std::string role, std::vector<llm::PromptPart> parts) {
  llm::PromptMessage m;
  m.role = std::move(role);
  m.parts = std::move(parts);
  return m;
}

// A completion prompt: one message without a role.
llm::RenderedPrompt completion(std::string text) {
  llm::RenderedPrompt p;
  p.messages.push_back(message("", {text_part(std::move(text))}));
  return p;
}

llm::RenderedPrompt chat(std::vector<llm::PromptMessage> messages) {
  llm::RenderedPrompt p;
  p.chat = true;
  p.messages = std::move(messages);
  return p;
}

http::Request request(const llm::ResolvedClient& c, const llm::RenderedPrompt& p, int line,
                      llm::RequestMode mode = llm::RequestMode::Complete) {
  http::Request r;
  std::string error;
  if (!llm::build_request(c, p, r, error, mode)) {
    fprintf(stderr, "line %d: build_request failed: %s\n", line, error.c_str());
    g_failures++;
  }
  return r;
}
#define REQUEST(c, p) request(c, p, __LINE__)

std::string request_error(const llm::ResolvedClient& c, const llm::RenderedPrompt& p) {
  http::Request r;
  std::string error;
  if (llm::build_request(c, p, r, error)) return "(built)";
  return error;
}

http::Answer answer(long status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Answer a;
  a.status = status;
  a.body = std::move(body);
  a.headers = std::move(headers);
  return a;
}

// As test/support/mock-llm.mjs answers (openaiReply / anthropicReply).
std::string openai_reply(const std::string& content_json, const std::string& finish = "\"stop\"") {
  return R"({"id":"chatcmpl-mock-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini",)"
         R"("choices":[{"index":0,"message":{"role":"assistant","content":)" +
         content_json + R"(},"logprobs":null,"finish_reason":)" + finish +
         R"(}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}})";
}

std::string anthropic_reply(const std::string& content_json, const std::string& stop = "\"end_turn\"") {
  return R"({"id":"msg-mock-1","type":"message","role":"assistant","model":"claude-3-5-haiku","content":)" +
         content_json + R"(,"stop_reason":)" + stop +
         R"(,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":2}})";
}

const char* kOpenAI = R"(client<llm> C { provider openai options { model "gpt-4o-mini" } })";
const char* kAnthropic = R"(client<llm> C { provider anthropic options { model "claude-3-5-haiku" } })";

} // namespace

// ---------------------------------------------------------------- requests

BRAKE_TEST(openai_text_request) {
  auto c = RESOLVED(R"(client<llm> GPT {
    provider openai
    options { model "gpt-4o-mini" temperature 0.2 max_tokens 100 stop ["\n\n"] }
  })");
  http::Request r = REQUEST(c, completion("Say \"hi\"\n"));
  STR_EQ(r.method, "POST");
  STR_EQ(r.url, "https://api.openai.com/v1/chat/completions");
  CHECK(r.parsed.https && r.parsed.host == "api.openai.com" && r.parsed.port == 443);
  STR_EQ(headers_of(r), "content-type: application/json\nauthorization: Bearer sk-openai");
  CHECK(r.has_body);
  // A prompt without roles is one message with openai's default role, system.
  JSON_EQ(r.body, R"({"model":"gpt-4o-mini","temperature":0.2,"max_tokens":100,"stop":["\n\n"],
                      "messages":[{"role":"system","content":"Say \"hi\"\n"}]})");
  // Options keep their source order, before the messages.
  CHECK(r.body.rfind(R"({"model":"gpt-4o-mini","temperature":0.2,"max_tokens":100,"stop":["\n\n"],"messages":)", 0) ==
        0);
  CHECK(r.timeout_ms == 0 && r.connect_timeout_ms == 0);

  auto turns = chat({message("system", {text_part("Be brief.")}), message("user", {text_part("Hi")}),
                     message("assistant", {text_part("Hello")}), message("user", {text_part("Again")})});
  JSON_EQ(REQUEST(c, turns).body, R"({"model":"gpt-4o-mini","temperature":0.2,"max_tokens":100,"stop":["\n\n"],
    "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
                {"role":"assistant","content":"Hello"},{"role":"user","content":"Again"}]})");

  // A Request is reused attempt after attempt: nothing accumulates.
  http::Request again = r;
  std::string error;
  CHECK(llm::build_request(c, completion("x"), again, error));
  JSON_EQ(again.body, R"({"model":"gpt-4o-mini","temperature":0.2,"max_tokens":100,"stop":["\n\n"],
                          "messages":[{"role":"system","content":"x"}]})");
  CHECK(again.headers.size() == 2);
}

BRAKE_TEST(openai_media_request) {
  auto c = RESOLVED(kOpenAI);
  auto p =
      chat({message("user", {text_part("Compare "), media_part(llm::Media::Kind::Image, "https://x.test/a.png", "", ""),
                             text_part(" and "), media_part(llm::Media::Kind::Image, "", "iVBORw0K\nGgo=", "image/png"),
                             media_part(llm::Media::Kind::Audio, "", "UklGRg==", "audio/wav"),
                             media_part(llm::Media::Kind::Audio, "", "SUQz", "audio/mpeg"),
                             media_part(llm::Media::Kind::Pdf, "", "JVBERi0=", "")})});
  JSON_EQ(REQUEST(c, p).body, R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":[
    {"type":"text","text":"Compare "},
    {"type":"image_url","image_url":{"url":"https://x.test/a.png"}},
    {"type":"text","text":" and "},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
    {"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
    {"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},
    {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0="}}]}]})");

  // What OpenAI cannot take is refused before anything is sent.
  auto one = [&](llm::PromptPart part) { return request_error(c, chat({message("user", {text_part("x"), part})})); };
  STR_EQ(one(media_part(llm::Media::Kind::Audio, "https://x.test/a.wav", "", "")),
         "openai client 'C' cannot send this audio: OpenAI takes audio as base64 data, not a URL");
  STR_EQ(one(media_part(llm::Media::Kind::Pdf, "https://x.test/a.pdf", "", "")),
         "openai client 'C' cannot send this pdf: OpenAI takes a PDF as base64 data, not a URL");
  STR_EQ(one(media_part(llm::Media::Kind::Video, "https://x.test/a.mp4", "", "")),
         "openai client 'C' cannot send this video: OpenAI's chat completions take no video");
  STR_EQ(one(media_part(llm::Media::Kind::Image, "", "iVBOR", "")),
         "openai client 'C' cannot send this image: base64 data needs its MIME type (image/png, ...)");
  STR_EQ(one(media_part(llm::Media::Kind::Image, "", "iVB\"OR", "image/png")),
         "openai client 'C' cannot send this image: its base64 data has characters base64 does not use");
  STR_EQ(one(media_part(llm::Media::Kind::Image, "", "iVBOR", "image/png\"")),
         "openai client 'C' cannot send this image: its MIME type is not of the form type/subtype");
  STR_EQ(request_error(c, llm::RenderedPrompt{}), "the prompt has no messages");
}

BRAKE_TEST(client_only_options_stay_out_of_the_body) {
  auto c = RESOLVED(R"(client<llm> C {
    provider openai
    options {
      model gpt-4-turbo
      api_key env.MY_KEY
      base_url "http://127.0.0.1:8080/v1/"
      headers { "X-Team" env.TEAM "x-trace" "abc" }
      query_params { "tag" "a b&c" }
      default_role "user"
      allowed_roles ["user", "assistant", "system", "tool"]
      remap_roles { tool "user" }
      allowed_role_metadata ["cache_control"]
      supports_streaming false
      finish_reason_deny_list ["length"]
      client_response_type "openai"
      media_url_handler { image "send_url" pdf "send_base64" }
      http { connect_timeout_ms 500 request_timeout_ms 30000 time_to_first_token_timeout_ms 2000 idle_timeout_ms 1000 }
      temperature 0
      response_format { type "json_object" }
      seed 7
      logit_bias { "50256" -100 }
      top_p 0.5
    }
  })");
  http::Request r = REQUEST(c, completion("hi"));
  STR_EQ(r.url, "http://127.0.0.1:8080/v1/chat/completions?tag=a%20b%26c");
  CHECK(!r.parsed.https && r.parsed.host == "127.0.0.1" && r.parsed.port == 8080);
  STR_EQ(headers_of(r), "content-type: application/json\nauthorization: Bearer sk-mine\nX-Team: blue\nx-trace: abc");
  JSON_EQ(r.body, R"({"model":"gpt-4-turbo","temperature":0,"response_format":{"type":"json_object"},"seed":7,
                      "logit_bias":{"50256":-100},"top_p":0.5,"messages":[{"role":"user","content":"hi"}]})");
  CHECK(r.timeout_ms == 30000 && r.connect_timeout_ms == 500);
  CHECK(c.time_to_first_token_timeout_ms == 2000 && c.idle_timeout_ms == 1000);
  CHECK(!c.supports_streaming);
  CHECK(c.model == "gpt-4-turbo");
  CHECK(c.role_metadata == llm::RoleMetadata::Only &&
        c.allowed_role_metadata == std::vector<std::string>{"cache_control"});
  CHECK(c.finish_filter == llm::FinishFilter::DenyList && c.finish_reasons == std::vector<std::string>{"length"});
  CHECK(llm::role_for(c, "tool") == "user");
  CHECK(llm::role_for(c, "system") == "system");
  CHECK(llm::role_for(c, "") == "user");

  // A client header replaces a default of the same name, in any case.
  auto own = RESOLVED(
      R"(client<llm> C { provider openai options { headers { "Authorization" "Token t" "Content-Type" "application/json; charset=utf-8" } } })");
  STR_EQ(headers_of(REQUEST(own, completion("x"))),
         "Authorization: Token t\nContent-Type: application/json; charset=utf-8");
}

BRAKE_TEST(openai_generic_and_ollama) {
  // openai-generic: base_url required (its trailing slash dropped), no key unless given.
  auto g = RESOLVED(
      R"(client<llm> C { provider openai-generic options { base_url "http://localhost:8000/v1/" model "llama" } })");
  http::Request r = REQUEST(g, completion("hi"));
  STR_EQ(r.url, "http://localhost:8000/v1/chat/completions");
  STR_EQ(headers_of(r), "content-type: application/json");
  JSON_EQ(r.body, R"({"model":"llama","messages":[{"role":"system","content":"hi"}]})");
  auto keyed = RESOLVED(
      R"(client<llm> C { provider "openai-generic" options { base_url "https://api.groq.test/openai/v1" api_key env.MY_KEY } })");
  STR_EQ(headers_of(REQUEST(keyed, completion("hi"))), "content-type: application/json\nauthorization: Bearer sk-mine");
  auto empty_key =
      RESOLVED(R"(client<llm> C { provider openai-generic options { base_url "http://h.test" api_key "" } })");
  STR_EQ(headers_of(REQUEST(empty_key, completion("hi"))), "content-type: application/json");
  RESOLVE_ERROR(R"(client<llm> C { provider openai-generic options { model "x" } })",
                "client 'C': openai-generic needs options { base_url \"https://.../v1\" }");

  // ollama: its /v1 at localhost, no key, and the user role by default.
  auto o = RESOLVED(R"(client<llm> C { provider ollama options { model llama3 } })");
  r = REQUEST(o, completion("hi"));
  STR_EQ(r.url, "http://localhost:11434/v1/chat/completions");
  STR_EQ(headers_of(r), "content-type: application/json");
  JSON_EQ(r.body, R"({"model":"llama3","messages":[{"role":"user","content":"hi"}]})");
  CHECK(o.supports_streaming && o.response_shape == llm::ResponseShape::OpenAI);
}

BRAKE_TEST(azure_openai_request) {
  auto a = RESOLVED(R"(client<llm> C {
    provider azure-openai
    options { resource_name "my-res" deployment_id "gpt4o" api_version "2024-02-01" temperature 1 }
  })");
  http::Request r = REQUEST(a, completion("hi"));
  STR_EQ(r.url, "https://my-res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-02-01");
  STR_EQ(headers_of(r), "content-type: application/json\napi-key: az-key");
  // BAML's default max_tokens for azure-openai.
  JSON_EQ(r.body, R"({"temperature":1,"max_tokens":4096,"messages":[{"role":"system","content":"hi"}]})");

  auto by_url = RESOLVED(R"(client<llm> C {
    provider azure-openai
    options { base_url "https://r.openai.azure.com/openai/deployments/d" api_version "2024-10-21" api_key env.MY_KEY
              max_tokens null model "gpt-4o" query_params { "x" "1" } }
  })");
  r = REQUEST(by_url, completion("hi"));
  STR_EQ(r.url, "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21&x=1");
  STR_EQ(headers_of(r), "content-type: application/json\napi-key: sk-mine");
  JSON_EQ(r.body, R"({"model":"gpt-4o","messages":[{"role":"system","content":"hi"}]})"); // max_tokens null: none sent
  auto completion_tokens = RESOLVED(
      R"(client<llm> C { provider azure-openai options { base_url "https://r.test/d" api_version "v" max_completion_tokens 50 } })");
  JSON_EQ(REQUEST(completion_tokens, completion("hi")).body,
          R"({"max_completion_tokens":50,"messages":[{"role":"system","content":"hi"}]})");
  // query_params may carry api-version itself.
  auto own_version = RESOLVED(
      R"(client<llm> C { provider azure-openai options { base_url "https://r.test/d" query_params { "api-version" "2025-01-01" } } })");
  STR_EQ(own_version.url, "https://r.test/d/chat/completions?api-version=2025-01-01");

  RESOLVE_ERROR(
      R"(client<llm> C { provider azure-openai options { resource_name "r.evil.test/x" deployment_id "d" api_version "v" } })",
      "client 'C': resource_name 'r.evil.test/x' is not a host name label (letters, digits, '-')");
  auto odd_deployment = RESOLVED(
      R"(client<llm> C { provider azure-openai options { resource_name "r" deployment_id "a b/c" api_version "v" } })");
  STR_EQ(odd_deployment.url, "https://r.openai.azure.com/openai/deployments/a%20b%2Fc/chat/completions?api-version=v");
  RESOLVE_ERROR(R"(client<llm> C { provider azure-openai options { resource_name "r" api_version "v" } })",
                "client 'C': deployment_id must be given with resource_name");
  RESOLVE_ERROR(R"(client<llm> C { provider azure-openai options { deployment_id "d" api_version "v" } })",
                "client 'C': resource_name must be given with deployment_id");
  RESOLVE_ERROR(R"(client<llm> C { provider azure-openai options { api_version "v" } })",
                "client 'C': azure-openai needs base_url, or resource_name and deployment_id");
  RESOLVE_ERROR(
      R"(client<llm> C { provider azure-openai options { base_url "https://r.test" resource_name "r" deployment_id "d" api_version "v" } })",
      "client 'C': give either base_url or resource_name and deployment_id, not both");
  RESOLVE_ERROR(R"(client<llm> C { provider azure-openai options { resource_name "r" deployment_id "d" } })",
                "client 'C': azure-openai needs options { api_version \"2024-10-21\" } (sent as api-version)");
  RESOLVE_ERROR(
      R"(client<llm> C { provider azure-openai options { resource_name "r" deployment_id "d" api_version "v" tenant_id "t" } })",
      "client 'C': Entra ID authentication (tenant_id) is not supported: give api_key");
  llm::Environment no_key = test_env();
  no_key.erase("AZURE_OPENAI_API_KEY");
  expect_resolve_error(
      R"(client<llm> C { provider azure-openai options { resource_name "r" deployment_id "d" api_version "v" } })",
      "client 'C': environment variable AZURE_OPENAI_API_KEY is not set (azure-openai's api_key defaults to "
      "env.AZURE_OPENAI_API_KEY)",
      __LINE__, no_key);
}

BRAKE_TEST(anthropic_request) {
  auto c = RESOLVED(R"(client<llm> Claude {
    provider anthropic
    options { model "claude-3-5-haiku" temperature 0 stop_sequences ["END"] }
  })");
  http::Request r = REQUEST(c, completion("Hello"));
  STR_EQ(r.url, "https://api.anthropic.com/v1/messages");
  STR_EQ(headers_of(r), "content-type: application/json\nx-api-key: sk-ant\nanthropic-version: 2023-06-01");
  // A prompt without roles is a user message; max_tokens defaults to 4096.
  JSON_EQ(r.body, R"({"model":"claude-3-5-haiku","temperature":0,"stop_sequences":["END"],"max_tokens":4096,
                      "messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]})");

  // The first system message is the top-level system; a later one is sent as assistant.
  auto p = chat({message("system", {text_part("Be brief.")}), message("user", {text_part("Hi")}),
                 message("system", {text_part("Later")}), message("user", {text_part("Again")})});
  JSON_EQ(REQUEST(c, p).body, R"({"model":"claude-3-5-haiku","temperature":0,"stop_sequences":["END"],"max_tokens":4096,
    "system":[{"type":"text","text":"Be brief."}],
    "messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]},
                {"role":"assistant","content":[{"type":"text","text":"Later"}]},
                {"role":"user","content":[{"type":"text","text":"Again"}]}]})");

  // Images and PDFs, by URL or base64.
  auto media =
      chat({message("user", {text_part("Look"), media_part(llm::Media::Kind::Image, "https://x.test/a.png", "", ""),
                             media_part(llm::Media::Kind::Image, "", "/9j/4A==", "image/jpeg"),
                             media_part(llm::Media::Kind::Pdf, "https://x.test/a.pdf", "", ""),
                             media_part(llm::Media::Kind::Pdf, "", "JVBERi0=", "")})});
  JSON_EQ(REQUEST(c, media).body,
          R"({"model":"claude-3-5-haiku","temperature":0,"stop_sequences":["END"],"max_tokens":4096,
    "messages":[{"role":"user","content":[
      {"type":"text","text":"Look"},
      {"type":"image","source":{"type":"url","url":"https://x.test/a.png"}},
      {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4A=="}},
      {"type":"document","source":{"type":"url","url":"https://x.test/a.pdf"}},
      {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]})");
  STR_EQ(request_error(c, chat({message("user", {media_part(llm::Media::Kind::Audio, "", "UklGRg==", "audio/wav")})})),
         "anthropic client 'Claude' cannot send this audio: Anthropic's messages API takes images and PDFs only");
  STR_EQ(request_error(c, chat({message("user", {media_part(llm::Media::Kind::Image, "", "abc", "")})})),
         "anthropic client 'Claude' cannot send this image: base64 data needs its MIME type (image/png, ...)");

  // The client's own max_tokens, anthropic-version and base_url.
  auto own = RESOLVED(R"(client<llm> C {
    provider anthropic
    options { base_url "http://127.0.0.1:9000/" max_tokens 10 api_key "k" headers { "anthropic-version" "2024-01-01" "anthropic-beta" "x" } }
  })");
  r = REQUEST(own, completion("Hi"));
  STR_EQ(r.url, "http://127.0.0.1:9000/v1/messages");
  STR_EQ(headers_of(r),
         "content-type: application/json\nx-api-key: k\nanthropic-version: 2024-01-01\nanthropic-beta: x");
  JSON_EQ(r.body, R"({"max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]})");
  RESOLVE_ERROR(R"(client<llm> C { provider anthropic options { system "x" } })",
                "client 'C': 'system' is set from the prompt and the call, not from options");
}

BRAKE_TEST(streaming_requests) {
  auto o = RESOLVED(kOpenAI);
  JSON_EQ(
      request(o, completion("x"), __LINE__, llm::RequestMode::Stream).body,
      R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"x"}],"stream":true,"stream_options":{"include_usage":true}})");
  auto own = RESOLVED(R"(client<llm> C { provider openai options { stream_options { include_usage false } } })");
  JSON_EQ(request(own, completion("x"), __LINE__, llm::RequestMode::Stream).body,
          R"({"stream_options":{"include_usage":false},"messages":[{"role":"system","content":"x"}],"stream":true})");
  auto g = RESOLVED(R"(client<llm> C { provider openai-generic options { base_url "http://h.test/v1" } })");
  JSON_EQ(request(g, completion("x"), __LINE__, llm::RequestMode::Stream).body,
          R"({"messages":[{"role":"system","content":"x"}],"stream":true})");
  auto a = RESOLVED(kAnthropic);
  JSON_EQ(
      request(a, completion("x"), __LINE__, llm::RequestMode::Stream).body,
      R"({"model":"claude-3-5-haiku","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stream":true})");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { stream true } })",
                "client 'C': 'stream' is set from the prompt and the call, not from options");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { messages [] } })",
                "client 'C': 'messages' is set from the prompt and the call, not from options");
}

BRAKE_TEST(roles) {
  auto c = RESOLVED(R"(client<llm> C { provider openai options { allowed_roles ["user", "assistant"] } })");
  CHECK(c.default_role == "user"); // the first allowed role
  CHECK(llm::role_for(c, "system") == "user");
  CHECK(llm::role_for(c, "assistant") == "assistant");
  // o1 models: no system role, no streaming (unless the client says otherwise).
  auto o1 = RESOLVED(R"(client<llm> C { provider openai options { model "o1-mini" } })");
  CHECK(o1.default_role == "user" && o1.allowed_roles == std::vector<std::string>({"user", "assistant"}));
  CHECK(!o1.supports_streaming);
  auto o1s = RESOLVED(R"(client<llm> C { provider openai options { model "o1" supports_streaming true } })");
  CHECK(o1s.supports_streaming && o1s.default_role == "user");
  auto gpt = RESOLVED(kOpenAI);
  CHECK(gpt.default_role == "system" && gpt.supports_streaming);
  auto remapped = RESOLVED(
      R"(client<llm> C { provider openai-generic options { base_url "http://h.test" default_role "user" remap_roles { assistant "model" } } })");
  JSON_EQ(
      REQUEST(remapped, chat({message("assistant", {text_part("a")}), message("", {text_part("b")}),
                              message("critic", {text_part("c")})}))
          .body,
      R"({"messages":[{"role":"model","content":"a"},{"role":"user","content":"b"},{"role":"user","content":"c"}]})");
  auto claude = RESOLVED(R"(client<llm> C { provider anthropic options { allowed_roles ["system", "assistant"] } })");
  CHECK(claude.default_role == "system"); // no user role allowed: the first
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { default_role "tool" } })",
                "client 'C': default_role 'tool' is not one of allowed_roles (system, user, assistant)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { remap_roles { tool "user" } } })",
                "client 'C': remap_roles renames 'tool', which is not one of allowed_roles (system, user, assistant)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { allowed_roles [] } })",
                "client 'C': allowed_roles must not be empty");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { allowed_roles "user" } })",
                "client 'C': allowed_roles must be a list of strings");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { allowed_roles ["user", 1] } })",
                "client 'C': each of allowed_roles must be a string or env.NAME");
}

BRAKE_TEST(environment_variables) {
  // env.NAME is read anywhere: key, headers, model, nested forwarded options.
  auto c = RESOLVED(R"(client<llm> C {
    provider openai
    options { model env.MODEL api_key env.MY_KEY headers { "x-team" env.TEAM } metadata { team env.TEAM tags [env.TEAM, "x"] } }
  })");
  CHECK(c.model == "gpt-4o-mini");
  http::Request r = REQUEST(c, completion("x"));
  STR_EQ(headers_of(r), "content-type: application/json\nauthorization: Bearer sk-mine\nx-team: blue");
  JSON_EQ(
      r.body,
      R"({"model":"gpt-4o-mini","metadata":{"team":"blue","tags":["blue","x"]},"messages":[{"role":"system","content":"x"}]})");

  // Only the engine's environment counts, never the process's.
  llm::Environment empty;
  setenv("OPENAI_API_KEY", "from-the-process", 1);
  expect_resolve_error(
      kOpenAI,
      "client 'C': environment variable OPENAI_API_KEY is not set (openai's api_key defaults to env.OPENAI_API_KEY)",
      __LINE__, empty);
  expect_resolve_error(kAnthropic,
                       "client 'C': environment variable ANTHROPIC_API_KEY is not set (anthropic's api_key defaults to "
                       "env.ANTHROPIC_API_KEY)",
                       __LINE__, empty);
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { api_key env.NOPE } })",
                "client 'C': environment variable NOPE is not set (option 'api_key')");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { headers { "x" env.NOPE } } })",
                "client 'C': environment variable NOPE is not set (option 'headers')");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { metadata { a [env.NOPE] } } })",
                "client 'C': environment variable NOPE is not set (option 'metadata')");
  RESOLVE_ERROR(R"(client<llm> C { provider openai-generic options { base_url env.NOPE } })",
                "client 'C': environment variable NOPE is not set (option 'base_url')");
  // Keys without a default need no variable.
  llm::Environment none;
  Resolved ok = resolve(R"(client<llm> C { provider ollama })", none);
  CHECK(ok.ok);
  // A value that would break the request line is refused.
  llm::Environment bad = test_env();
  bad["MY_KEY"] = "sk\r\nx-evil: 1";
  expect_resolve_error(R"(client<llm> C { provider openai options { api_key env.MY_KEY } })",
                       "client 'C': api_key has a line break or NUL in it", __LINE__, bad);
  expect_resolve_error(R"(client<llm> C { provider openai options { headers { "x" env.MY_KEY } } })",
                       "client 'C': header 'x' has a line break or NUL in its value", __LINE__, bad);
}

BRAKE_TEST(bad_options_are_errors) {
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { supports_streaming "yes" } })",
                "client 'C': supports_streaming must be true or false");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { http { request_timeout_ms -1 } } })",
                "client 'C': http.request_timeout_ms must be a whole number of milliseconds, 0 or more");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { http { request_timeout_ms 1.5 } } })",
                "client 'C': http.request_timeout_ms must be a whole number of milliseconds, 0 or more");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { http { timeout_ms 5 } } })",
                "client 'C': unknown http option 'timeout_ms' (connect_timeout_ms, request_timeout_ms, "
                "time_to_first_token_timeout_ms, idle_timeout_ms)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { http { total_timeout_ms 5 } } })",
                "client 'C': http.total_timeout_ms is for fallback and round-robin clients; this client takes "
                "connect_timeout_ms, request_timeout_ms, time_to_first_token_timeout_ms, idle_timeout_ms");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { http 5 } })",
                "client 'C': http must be a block { request_timeout_ms N ... }");
  RESOLVE_ERROR(
      R"(client<llm> C { provider openai options { http { request_timeout_ms 100 time_to_first_token_timeout_ms 200 } } })",
      "client 'C': http.request_timeout_ms (100) is below http.time_to_first_token_timeout_ms (200)");
  RESOLVE_ERROR(
      R"(client<llm> C { provider openai options { finish_reason_allow_list ["stop"] finish_reason_deny_list ["length"] } })",
      "client 'C': finish_reason_allow_list and finish_reason_deny_list cannot be used together");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { finish_reason_allow_list "stop" } })",
                "client 'C': finish_reason_allow_list must be a list of strings");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { client_response_type "google" } })",
                "client 'C': client_response_type \"google\" is not supported (brake reads openai and anthropic)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { client_response_type "xml" } })",
                "client 'C': client_response_type must be \"openai\" or \"anthropic\", not \"xml\"");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { client_response_type env.TEAM } })",
                "client 'C': client_response_type must be \"openai\" or \"anthropic\" (not env.NAME)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { media_url_handler { image "download" } } })",
                "client 'C': media_url_handler.image must be send_base64, send_url, send_url_add_mime_type or "
                "send_base64_unless_google_url");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { media_url_handler { gif "send_url" } } })",
                "client 'C': unknown media_url_handler key 'gif' (image, audio, pdf, video)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { allowed_role_metadata 3 } })",
                "client 'C': allowed_role_metadata must be a list of keys, \"all\" or \"none\"");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { headers { "bad name" "x" } } })",
                "client 'C': header name 'bad name' is not a valid HTTP header name");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { query_params { a 1 } } })",
                "client 'C': query parameter 'a' must be a string or env.NAME");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { remap_roles ["a"] } })",
                "client 'C': remap_roles must be a block { from \"to\" }");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { temperature 0.1 temperature 0.2 } })",
                "client 'C': option 'temperature' is given twice");
  RESOLVE_ERROR(
      R"(client<llm> C { provider openai options { base_url "https://h.test/v1?x=1" } })",
      "client 'C': base_url 'https://h.test/v1?x=1' has a query or fragment (give query parameters in query_params)");
  RESOLVE_ERROR(R"(client<llm> C { provider openai options { base_url "ftp://h.test/v1" } })",
                "client 'C': the URL 'ftp://h.test/v1/chat/completions' is not usable: unsupported scheme 'ftp' (only "
                "http and https)");
  // The checker's own refusals stay compile errors (lang/llm_decls.cpp).
  auto p = vm::compile_program("client<llm> C { provider openai options { api_key 3 } }\nfunction f() -> int { 1 }",
                               "t.baml");
  CHECK(!p->diagnostics.items().empty());
  // Composite clients send nothing themselves.
  auto f = vm::compile_program(
      "client<llm> A { provider openai }\nclient<llm> F { provider fallback options { strategy [A] } }\n"
      "function f() -> int { 1 }",
      "t.baml");
  llm::ResolvedClient out;
  std::string error;
  CHECK(!llm::resolve_client(f->clients[1], test_env(), out, error));
  STR_EQ(error, "client 'F': a fallback client sends no request of its own");
}

// ---------------------------------------------------------------- replies

BRAKE_TEST(openai_replies) {
  auto c = RESOLVED(kOpenAI);
  ProviderReply r = llm::read_response(c, answer(200, openai_reply(R"("echo: \"hi\" \u00e9")")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok && r.failure == Failure::None);
  STR_EQ(r.text, "echo: \"hi\" \xc3\xa9");
  STR_EQ(r.finish_reason, "stop");
  CHECK(r.status == 200 && r.error.empty() && r.retry_after_ms == -1);

  // content null (tool calls) is empty text; content parts are joined; finish_reason may be null.
  r = llm::read_response(c, answer(200, openai_reply("null", "\"tool_calls\"")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok && r.text.empty());
  STR_EQ(r.finish_reason, "tool_calls");
  r = llm::read_response(
      c, answer(200, openai_reply(R"([{"type":"text","text":"a"},{"type":"text","text":"b"}])", "null")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok);
  STR_EQ(r.text, "ab");
  STR_EQ(r.finish_reason, "");
  // Only the first of several choices is read.
  r = llm::read_response(
      c, answer(200,
                R"({"choices":[{"message":{"content":"one"},"finish_reason":"stop"},{"message":{"content":"two"}}]})"));
  STR_EQ(r.text, "one");

  // A refusal is a failure that says why.
  r = llm::read_response(
      c,
      answer(
          200,
          R"({"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]})"));
  CHECK(r.outcome == ProviderReply::Outcome::Failed && r.failure == Failure::Response);
  STR_EQ(r.error, "the model refused: I can't help with that.");

  // Anthropic replies are not OpenAI's shape.
  r = llm::read_response(c, answer(200, anthropic_reply(R"([{"type":"text","text":"x"}])")));
  CHECK(r.failure == Failure::Response);
  STR_EQ(r.error, "the response has no choices array (expected a chat completion)");
}

BRAKE_TEST(anthropic_replies) {
  auto c = RESOLVED(kAnthropic);
  ProviderReply r = llm::read_response(
      c,
      answer(
          200,
          anthropic_reply(
              R"([{"type":"text","text":"Hello, "},{"type":"tool_use","id":"t","name":"f","input":{}},{"type":"text","text":"world"}])",
              "\"max_tokens\"")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok);
  STR_EQ(r.text, "Hello, world");
  STR_EQ(r.finish_reason, "max_tokens");
  r = llm::read_response(c, answer(200, anthropic_reply("[]", "null")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok && r.text.empty() && r.finish_reason.empty());
  // A 2xx error event is an error.
  r = llm::read_response(c,
                         answer(200, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
  CHECK(r.failure == Failure::Response);
  STR_EQ(r.error, "the response is an error: Overloaded");
  // client_response_type: an OpenAI-family client reading Anthropic's shape, and the reverse.
  auto g = RESOLVED(
      R"(client<llm> C { provider openai-generic options { base_url "http://h.test" client_response_type anthropic } })");
  r = llm::read_response(g, answer(200, anthropic_reply(R"([{"type":"text","text":"x"}])")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok && r.text == "x" && r.finish_reason == "end_turn");
  auto a = RESOLVED(R"(client<llm> C { provider anthropic options { client_response_type "openai" } })");
  r = llm::read_response(a, answer(200, openai_reply("\"y\"")));
  CHECK(r.outcome == ProviderReply::Outcome::Ok && r.text == "y");
}

BRAKE_TEST(error_statuses) {
  auto o = RESOLVED(kOpenAI);
  // The mock's OpenAI error body, with retry-after in seconds.
  ProviderReply r = llm::read_response(
      o,
      answer(429, R"({"error":{"message":"Rate limit reached","type":"rate_limit_exceeded","param":null,"code":null}})",
             {{"content-type", "application/json"}, {"retry-after", "2"}}));
  CHECK(r.outcome == ProviderReply::Outcome::Failed && r.failure == Failure::Status && r.status == 429);
  STR_EQ(r.error, "HTTP 429 Too Many Requests: Rate limit reached");
  CHECK(r.retry_after_ms == 2000);
  CHECK(r.body_excerpt.find("rate_limit_exceeded") != std::string::npos);
  // The mock's Anthropic error body.
  auto a = RESOLVED(kAnthropic);
  r = llm::read_response(
      a, answer(529, R"({"type":"error","error":{"type":"overloaded_error","message":"mock status 529"}})"));
  STR_EQ(r.error, "HTTP 529 Overloaded: mock status 529");
  CHECK(r.retry_after_ms == -1);
  // Other servers' shapes: {"error": "..."} (Ollama), {"detail": "..."} (vLLM), {"message": "..."}.
  r = llm::read_response(o, answer(404, R"({"error":"model 'llama9' not found"})"));
  STR_EQ(r.error, "HTTP 404 Not Found: model 'llama9' not found");
  r = llm::read_response(o, answer(400, R"({"detail":"bad field"})"));
  STR_EQ(r.error, "HTTP 400 Bad Request: bad field");
  r = llm::read_response(o, answer(418, R"({"message":"teapot"})"));
  STR_EQ(r.error, "HTTP 418: teapot");
  // No message to be found: the body's start; nothing at all.
  r = llm::read_response(o, answer(502, "<html>Bad gateway</html>"));
  STR_EQ(r.error, "HTTP 502 Bad Gateway: <html>Bad gateway</html>");
  STR_EQ(r.body_excerpt, "<html>Bad gateway</html>");
  r = llm::read_response(o, answer(503, "", {{"retry-after", "Wed, 21 Oct 2099 07:28:00 GMT"}}));
  STR_EQ(r.error, "HTTP 503 Service Unavailable (empty body)");
  CHECK(r.retry_after_ms > 0);
  // The mock's malformed error body.
  r = llm::read_response(o, answer(500, "{\"error\": "));
  STR_EQ(r.error, "HTTP 500 Internal Server Error: {\"error\": ");
  // Excerpts are bounded and valid UTF-8, whatever the body.
  std::string big(5000, 'x');
  r = llm::read_response(o, answer(500, big));
  CHECK(r.body_excerpt.size() == llm::kBodyExcerptBytes);
  CHECK(r.error.size() < 300);
  std::string cut = std::string(1023, 'a') + "\xc3\xa9tail"; // a code point across the limit
  r = llm::read_response(o, answer(500, cut));
  CHECK(r.body_excerpt == std::string(1023, 'a'));
  r = llm::read_response(o, answer(500, "bad \xff\xfe bytes"));
  STR_EQ(r.body_excerpt, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
  // A redirect that was not followed is not a reply either.
  r = llm::read_response(o, answer(301, ""));
  CHECK(r.failure == Failure::Status);
}

BRAKE_TEST(malformed_and_wrong_shaped_replies) {
  auto o = RESOLVED(kOpenAI);
  auto check = [&](const llm::ResolvedClient& c, const std::string& body, const std::string& expected, int line) {
    ProviderReply r = llm::read_response(c, answer(200, body));
    if (r.outcome != ProviderReply::Outcome::Failed || r.failure != Failure::Response || r.error != expected ||
        !r.text.empty()) {
      fprintf(stderr, "line %d: expected Response failure '%s', got '%s'\n", line, expected.c_str(), r.error.c_str());
      g_failures++;
    }
    CHECK(r.status == 200 && r.body_excerpt == body.substr(0, llm::kBodyExcerptBytes));
  };
  // What the mock sends for `malformed` (a JSON text cut short).
  check(o, openai_reply("\"x\"").substr(0, 20),
        "the response is not valid JSON (UNCLOSED_STRING: A string is opened, but never closed.)", __LINE__);
  check(o, R"({"choices":[{"message":{"content":"x"}})",
        "the response is not valid JSON (TAPE_ERROR: The JSON document has an improper structure: missing or "
        "superfluous commas, braces, missing keys, etc.)",
        __LINE__);
  check(o, "", "the response body is empty", __LINE__);
  check(o, "[1,2]", "the response is not a JSON object (expected a chat completion)", __LINE__);
  check(o, R"({"id":"x"})", "the response has no choices array (expected a chat completion)", __LINE__);
  check(o, R"({"choices":[]})", "the response's choices are empty", __LINE__);
  check(o, R"({"choices":[{"text":"legacy completion"}]})", "the response's choices[0] has no message object",
        __LINE__);
  check(o, R"({"choices":[1]})", "the response's choices[0] has no message object", __LINE__);
  check(o, R"({"choices":[{"message":{"content":5}}]})",
        "the response's choices[0].message.content is neither text nor null", __LINE__);
  check(o, R"({"error":{"message":"quota exceeded"}})", "the response is an error: quota exceeded", __LINE__);
  auto a = RESOLVED(kAnthropic);
  check(a, R"({"type":"message","content":"text"})", "the response has no content array (expected a message)",
        __LINE__);
  check(a, "\"just a string\"", "the response is not a JSON object (expected a message)", __LINE__);
  // A body in a buffer with room past its end is read in place; a tight one is copied: both read alike.
  std::string body = openai_reply("\"roomy\"");
  http::Answer roomy = answer(200, body);
  roomy.body.reserve(body.size() + 4096);
  CHECK(llm::read_response(o, roomy).text == "roomy");
  http::Answer tight = answer(200, body);
  tight.body.shrink_to_fit();
  CHECK(llm::read_response(o, tight).text == "roomy");
  // A large reply, then a small one (the thread's parser is trimmed in between).
  std::string long_text(200000, 'z');
  CHECK(llm::read_response(o, answer(200, openai_reply("\"" + long_text + "\""))).text == long_text);
  CHECK(llm::read_response(o, answer(200, openai_reply("\"small\""))).text == "small");
}

BRAKE_TEST(transport_failures) {
  auto o = RESOLVED(kOpenAI);
  http::Answer failed;
  failed.failed = true;
  failed.error = "connection refused (127.0.0.1:1)";
  ProviderReply r = llm::read_response(o, failed);
  CHECK(r.outcome == ProviderReply::Outcome::Failed && r.failure == Failure::Transport && r.status == 0);
  STR_EQ(r.error, "connection refused (127.0.0.1:1)");
  failed.error.clear();
  STR_EQ(llm::read_response(o, failed).error, "the request failed before a response arrived");
}

BRAKE_TEST(finish_reason_lists) {
  auto allow = RESOLVED(R"(client<llm> C { provider openai options { finish_reason_allow_list ["STOP"] } })");
  CHECK(llm::read_response(allow, answer(200, openai_reply("\"a\"", "\"stop\""))).outcome ==
        ProviderReply::Outcome::Ok);
  ProviderReply r = llm::read_response(allow, answer(200, openai_reply("\"cut\"", "\"length\"")));
  CHECK(r.outcome == ProviderReply::Outcome::Failed && r.failure == Failure::FinishReason);
  STR_EQ(r.error, "finish reason 'length' is not in finish_reason_allow_list [stop]");
  STR_EQ(r.text, "cut"); // kept (BAML's raw_output)
  STR_EQ(r.finish_reason, "length");
  // No finish reason: nothing to judge.
  CHECK(llm::read_response(allow, answer(200, openai_reply("\"a\"", "null"))).outcome == ProviderReply::Outcome::Ok);

  auto deny =
      RESOLVED(R"(client<llm> C { provider anthropic options { finish_reason_deny_list ["max_tokens", "refusal"] } })");
  r = llm::read_response(deny, answer(200, anthropic_reply(R"([{"type":"text","text":"partial"}])", "\"MAX_TOKENS\"")));
  CHECK(r.failure == Failure::FinishReason);
  STR_EQ(r.error, "finish reason 'MAX_TOKENS' is in finish_reason_deny_list [max_tokens, refusal]");
  CHECK(llm::read_response(deny, answer(200, anthropic_reply(R"([{"type":"text","text":"ok"}])"))).outcome ==
        ProviderReply::Outcome::Ok);
}

BRAKE_TEST(retry_after_forms) {
  // 1994-11-06T08:49:37Z is 784111777 seconds after the epoch.
  const int64_t at = 784111777000;
  CHECK(llm::parse_retry_after("120", 0) == 120000);
  CHECK(llm::parse_retry_after(" 0 ", 0) == 0);
  CHECK(llm::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 5000) == 5000);
  CHECK(llm::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", at - 5000) == 5000);
  CHECK(llm::parse_retry_after("Sun Nov  6 08:49:37 1994", at - 5000) == 5000);
  CHECK(llm::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 60000) == 0); // in the past
  CHECK(llm::parse_retry_after("Tue, 29 Feb 2028 00:00:00 GMT", 0) == int64_t(1835395200) * 1000);
  CHECK(llm::parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0) == 0);
  for (const char* bad :
       {"", "-1", "1.5", "soon", "9999999999999", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 29 Feb 2027 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT"}) {
    if (llm::parse_retry_after(bad, 0) != -1) {
      fprintf(stderr, "parse_retry_after(\"%s\") should be -1\n", bad);
      g_failures++;
    }
  }
  // In replies: retry-after-ms (OpenAI) is preferred; an invalid value is none.
  auto o = RESOLVED(kOpenAI);
  CHECK(llm::read_response(o, answer(429, "{}", {{"retry-after", "3"}, {"retry-after-ms", "1500.2"}})).retry_after_ms ==
        1501);
  CHECK(llm::read_response(o, answer(503, "{}", {{"retry-after", "soon"}})).retry_after_ms == -1);
  CHECK(llm::read_response(o, answer(503, "{}", {{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}})).retry_after_ms ==
        0);
  CHECK(llm::read_response(o, answer(200, openai_reply("\"x\""), {{"retry-after", "3"}})).retry_after_ms == -1);
}

// A stream's events, read in order: the kinds they give, joined with spaces.
std::string read_events(const llm::ResolvedClient& c, const std::vector<std::pair<std::string, std::string>>& events,
                        llm::StreamState& state, std::string& error) {
  std::string kinds;
  for (const auto& [name, data] : events) {
    llm::StreamEvent e = llm::read_stream_event(c, name, data, state, error);
    kinds += kinds.empty() ? "" : " ";
    kinds += e == llm::StreamEvent::Delta     ? "delta"
             : e == llm::StreamEvent::Nothing ? "nothing"
             : e == llm::StreamEvent::Done    ? "done"
                                              : "failed";
  }
  return kinds;
}

BRAKE_TEST(openai_streams) {
  auto c = RESOLVED(kOpenAI);
  // As test/support/mock-llm.mjs streams (and OpenAI, with include_usage).
  auto chunk = [](const std::string& delta, const std::string& finish) {
    return R"({"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":)" +
           delta + R"(,"logprobs":null,"finish_reason":)" + finish + "}]}";
  };
  llm::StreamState st;
  std::string error;
  STR_EQ(read_events(c,
                     {{"", chunk(R"({"role":"assistant","content":""})", "null")},
                      {"", chunk(R"({"content":"Hello "})", "null")},
                      {"", chunk(R"({"content":"world"})", "null")},
                      {"", chunk("{}", "\"stop\"")},
                      {"", R"({"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1}})"},
                      {"", "[DONE]"}},
                     st, error),
         "nothing delta delta nothing nothing done");
  CHECK(st.done);
  ProviderReply r = llm::finish_stream(c, st);
  CHECK(r.outcome == ProviderReply::Outcome::Ok);
  STR_EQ(r.text, "Hello world");
  STR_EQ(r.finish_reason, "stop");

  // A server that ends with a finish reason but no [DONE] is complete; one with neither is not.
  llm::StreamState no_done;
  read_events(c, {{"", chunk(R"({"content":"a"})", "\"length\"")}}, no_done, error);
  CHECK(llm::finish_stream(c, no_done).outcome == ProviderReply::Outcome::Ok);
  llm::StreamState cut;
  read_events(c, {{"", chunk(R"({"content":"a"})", "null")}}, cut, error);
  r = llm::finish_stream(c, cut);
  CHECK(r.failure == Failure::Response && r.text == "a");
  STR_EQ(r.error, "the stream ended before the reply was complete");

  // Errors inside a stream, and data that is not a chunk.
  llm::StreamState bad;
  STR_EQ(read_events(c, {{"", R"({"error":{"message":"overloaded","type":"server_error"}})"}}, bad, error), "failed");
  STR_EQ(error, "the stream carries an error: overloaded");
  STR_EQ(read_events(c, {{"", R"({"id":"chatcmpl-mock-1","object":"chat.com)"}}, bad, error), "failed");
  STR_EQ(error, "a stream event is not valid JSON (UNCLOSED_STRING: A string is opened, but never closed.)");
  STR_EQ(read_events(c, {{"", "[1]"}}, bad, error), "failed");
  STR_EQ(error, "a stream event is not a JSON object (expected a chat completion chunk)");

  // The finish-reason lists judge the end of a stream too.
  auto allow = RESOLVED(R"(client<llm> C { provider openai options { finish_reason_allow_list ["stop"] } })");
  llm::StreamState longer;
  read_events(allow, {{"", chunk(R"({"content":"cut"})", "\"length\"")}, {"", "[DONE]"}}, longer, error);
  r = llm::finish_stream(allow, longer);
  CHECK(r.failure == Failure::FinishReason && r.text == "cut");
}

BRAKE_TEST(anthropic_streams) {
  auto c = RESOLVED(kAnthropic);
  // As test/support/mock-llm.mjs streams (and Anthropic).
  std::vector<std::pair<std::string, std::string>> events = {
      {"message_start",
       R"({"type":"message_start","message":{"id":"msg-1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":0}}})"},
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
      {"ping", R"({"type":"ping"})"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}})"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world"}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
      {"content_block_start",
       R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}})"},
      {"message_delta",
       R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}})"},
      {"message_stop", R"({"type":"message_stop"})"},
  };
  llm::StreamState st;
  std::string error;
  STR_EQ(read_events(c, events, st, error), "nothing nothing nothing delta delta nothing nothing nothing nothing done");
  ProviderReply r = llm::finish_stream(c, st);
  CHECK(r.outcome == ProviderReply::Outcome::Ok);
  STR_EQ(r.text, "Hello world");
  STR_EQ(r.finish_reason, "end_turn");

  // Events without names are read by their data's type; a block may start with text.
  llm::StreamState unnamed;
  STR_EQ(read_events(c,
                     {{"", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}})"},
                      {"", R"({"type":"some_future_event"})"},
                      {"", R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"}})"}},
                     unnamed, error),
         "delta nothing nothing");
  CHECK(unnamed.text == "Hi" && unnamed.finish_reason == "max_tokens" && !unnamed.done);
  auto deny = RESOLVED(R"(client<llm> C { provider anthropic options { finish_reason_deny_list ["max_tokens"] } })");
  r = llm::finish_stream(deny, unnamed);
  CHECK(r.failure == Failure::FinishReason);
  STR_EQ(r.error, "finish reason 'max_tokens' is in finish_reason_deny_list [max_tokens]");

  llm::StreamState bad;
  STR_EQ(read_events(c, {{"error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"}},
                     bad, error),
         "failed");
  STR_EQ(error, "the stream carries an error: Overloaded");
  STR_EQ(read_events(c, {{"", R"({"index":0})"}}, bad, error), "failed");
  STR_EQ(error, "a stream event has no type (expected a message event)");
  llm::StreamState cut;
  read_events(c, {events[0], events[1], events[3]}, cut, error);
  CHECK(llm::finish_stream(c, cut).failure == Failure::Response);
}

BRAKE_TEST(many_threads_at_once) {
  // Workers share one ResolvedClient; each thread keeps its own parser.
  auto c = RESOLVED(kOpenAI);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; i++) {
        std::string text = "t" + std::to_string(t) + "-" + std::to_string(i);
        // Now and then a large reply, so parsers are dropped and made again.
        if (i % 500 == 0) text += std::string(100000, 'x');
        http::Request r;
        std::string error;
        if (!llm::build_request(c, completion(text), r, error) || r.body.find(text) == std::string::npos) wrong++;
        ProviderReply reply = llm::read_response(c, answer(200, openai_reply("\"" + text + "\"")));
        if (reply.outcome != ProviderReply::Outcome::Ok || reply.text != text) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(openai_text_request),
      TEST_ENTRY(openai_media_request),
      TEST_ENTRY(client_only_options_stay_out_of_the_body),
      TEST_ENTRY(openai_generic_and_ollama),
      TEST_ENTRY(azure_openai_request),
      TEST_ENTRY(anthropic_request),
      TEST_ENTRY(streaming_requests),
      TEST_ENTRY(roles),
      TEST_ENTRY(environment_variables),
      TEST_ENTRY(bad_options_are_errors),
      TEST_ENTRY(openai_replies),
      TEST_ENTRY(anthropic_replies),
      TEST_ENTRY(error_statuses),
      TEST_ENTRY(malformed_and_wrong_shaped_replies),
      TEST_ENTRY(transport_failures),
      TEST_ENTRY(finish_reason_lists),
      TEST_ENTRY(retry_after_forms),
      TEST_ENTRY(openai_streams),
      TEST_ENTRY(anthropic_streams),
      TEST_ENTRY(many_threads_at_once),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
