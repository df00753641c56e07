// provider.h: the LLM providers. For one primitive client (openai,
// openai-generic, azure-openai, ollama, anthropic): its options resolved
// once against the engine's environment, the HTTP request of one attempt
// built from a rendered prompt, and the provider's answer read back. Pure:
// no I/O, no clock except read_response's wall clock for an HTTP-date
// retry-after. The runtime sends the request with its own transport.
//
// Options follow BAML's documentation of each provider (docs.boundaryml.com,
// "LLM Client Providers"). The options BAML keeps with the client are listed
// in provider.cpp (kClientOptions); every other option goes into the request
// body as it is written, in source order, env.NAME resolved.
//
// Threads: every function may be called from any thread; a ResolvedClient
// is immutable once resolved and may be shared by all workers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/request.h"
#include "llm/client.h"
#include "llm/prompt.h"

namespace brake::llm {

// The variables the host gave the engine (never the process's).
using Environment = std::unordered_map<std::string, std::string>;

// Which reply shape a client reads (client_response_type; default: the
// provider's own).
enum class ResponseShape : uint8_t { OpenAI, Anthropic };

// allowed_role_metadata: which keys of _.role(...) metadata to forward.
// (RenderedPrompt carries no role metadata yet: kept for when it does.)
enum class RoleMetadata : uint8_t { None, All, Only };

// finish_reason_allow_list / finish_reason_deny_list (at most one).
enum class FinishFilter : uint8_t { All, AllowList, DenyList };

// Everything one attempt's request needs, resolved from a client's options.
struct ResolvedClient {
  std::string name;
  Provider provider = Provider::OpenAI;
  ResponseShape response_shape = ResponseShape::OpenAI;

  std::string url; // the endpoint, query included
  http::Url parsed_url;
  std::string model; // the options' model ("" when none: azure-openai may omit it)

  // Sent as they are: content-type, the provider's auth and version headers,
  // then the client's `headers` (a client header replaces a default one of
  // the same name, in any case: a client may bring its own authorization).
  std::vector<std::pair<std::string, std::string>> headers;

  // The forwarded options as JSON object members without braces
  // (`"model":"gpt-4o","temperature":0.2`), "" when none. Defaults BAML adds
  // (anthropic's max_tokens, azure-openai's max_tokens) are included.
  std::string body_options;
  bool has_stream_options = false; // the options set stream_options themselves

  // Roles (role_for): a message's role, or default_role for a message
  // without one; a role outside allowed_roles becomes default_role; then
  // remap_roles renames it.
  std::string default_role;
  std::vector<std::string> allowed_roles;
  std::vector<std::pair<std::string, std::string>> remap_roles;
  RoleMetadata role_metadata = RoleMetadata::None;
  std::vector<std::string> allowed_role_metadata; // RoleMetadata::Only

  FinishFilter finish_filter = FinishFilter::All;
  std::vector<std::string> finish_reasons; // ASCII lower case; compared without case

  bool supports_streaming = true;

  // options { http { ... } } in milliseconds; 0: none of the client's (the
  // engine's own limits apply). request and connect go into http::Request;
  // the two streaming ones are for the runtime's stream reader.
  uint64_t connect_timeout_ms = 0;
  uint64_t request_timeout_ms = 0;
  uint64_t time_to_first_token_timeout_ms = 0;
  uint64_t idle_timeout_ms = 0;

  // After resolve_client failed because a variable is missing: its name.
  std::string missing_variable;
};

// Resolves a primitive client's options. env.NAME anywhere in them (and the
// provider's default api_key variable) is read from `env`. False with
// `error` (naming the client, and the variable when one is missing) for a
// composite client, a missing variable, a missing required option, or an
// option of the wrong kind that the checker (lang/llm_decls.cpp) let through.
// `rule`: MissingIsEmpty reads a missing variable as "" (for rendering a
// prompt, which sends nothing and needs no key).
enum class EnvRule : uint8_t { Required, MissingIsEmpty };
bool resolve_client(const ClientInfo& c, const Environment& env, ResolvedClient& out, std::string& error,
                    EnvRule rule = EnvRule::Required);

// The role a message with role `role` ("" for none) is sent with.
std::string_view role_for(const ResolvedClient& c, std::string_view role);

// Streaming adds "stream": true (and, for openai, stream_options with
// include_usage unless the options set stream_options).
enum class RequestMode : uint8_t { Complete, Stream };

// The POST for one attempt. False with `error` when the prompt cannot be
// sent to this provider (no messages; media the provider does not take, or
// base64 data without a MIME type or with characters base64 has not).
bool build_request(const ResolvedClient& c, const RenderedPrompt& prompt, http::Request& out, std::string& error,
                   RequestMode mode = RequestMode::Complete);

// What the provider answered.
struct ProviderReply {
  enum class Outcome : uint8_t { Ok, Failed } outcome = Outcome::Failed;
  // Why it failed (None when Ok): the transfer failed (network, timeout);
  // a non-2xx status; a 2xx body that is not the provider's shape (or an
  // error or refusal inside one); a finish reason the client's lists refuse
  // (text and finish_reason are kept: BAML's raw_output).
  enum class Failure : uint8_t { None, Transport, Status, Response, FinishReason } failure = Failure::None;
  std::string text;
  std::string finish_reason;   // "" when the provider gave none
  std::string error;           // for LlmError: the status and the provider's own message
  long status = 0;             // the HTTP status (0: no response)
  std::string body_excerpt;    // Status and Response failures: the body's start (kBodyExcerptBytes at most, UTF-8)
  int64_t retry_after_ms = -1; // a non-2xx answer's retry-after-ms or retry-after (seconds or HTTP date); -1: none
};

// As vm::kHttpBodyExcerpt (what an HttpError carries of a body).
constexpr size_t kBodyExcerptBytes = 1024;

ProviderReply read_response(const ResolvedClient& c, const http::Answer& answer);

// A streamed reply (RequestMode::Stream), read one server-sent event at a
// time. The runtime splits the bytes into events (an SSE decoder) and hands
// each event here: `event` is its name ("" when it has none: OpenAI names
// none, Anthropic names each), `data` its data lines joined. A non-2xx
// answer is no stream: read its whole body with read_response.
struct StreamState {
  std::string text;          // the reply so far
  std::string finish_reason; // once the provider gave one
  bool done = false;         // the provider said the reply is complete
};

enum class StreamEvent : uint8_t {
  Delta,   // text grew (what was appended is text.substr(its size before))
  Nothing, // no text: a role, usage, a ping, an event this reader does not use
  Done,    // the reply is complete (OpenAI's [DONE], Anthropic's message_stop)
  Failed,  // an error event, or data that is not the provider's shape: `error` says which
};

StreamEvent read_stream_event(const ResolvedClient& c, std::string_view event, std::string_view data, StreamState& s,
                              std::string& error);

// The reply of a stream that ended (its transfer finished): Ok with the
// text, or Failed as read_response fails: Response when it ended before the
// provider said it was complete (neither done nor a finish reason),
// FinishReason when the client's lists refuse its finish reason.
ProviderReply finish_stream(const ResolvedClient& c, StreamState& s);

// A Retry-After value in milliseconds from `now_unix_ms`: delay-seconds
// (digits) or an HTTP date (IMF-fixdate, RFC 850 or asctime form; a date in
// the past gives 0). -1 for anything else.
int64_t parse_retry_after(std::string_view value, int64_t now_unix_ms);

} // namespace brake::llm
