// provider_internal.h: what provider.cpp (options, requests, replies in
// general) shares with each provider's own file (provider_openai.cpp,
// provider_anthropic.cpp). Not for use outside llm/provider*.cpp.
#pragma once

#include <string>
#include <string_view>

#include "json/json.h"
#include "llm/provider.h"
#include "simdjson.h"

namespace brake::llm::detail {

// ---- request bodies (written into one string)

// Appends base64 data as the inside of a JSON string (no quotes), leaving
// out ASCII whitespace (line-wrapped base64); false for any character that
// is neither base64 (standard or URL-safe alphabet, '=' padding) nor
// whitespace. Base64 needs no JSON escaping, so nothing is copied twice.
bool append_base64(std::string& out, std::string_view data);

// Whether a MIME type can be written into a JSON string as it is: printable
// ASCII with a '/', without quotes, backslashes or spaces.
bool plain_mime(std::string_view mime);

const char* media_kind_name(Media::Kind k);

// A message's parts as a JSON array of content blocks, as both provider
// families write them: text as {"type":"text","text":...}, media by
// `append_media` (the provider's own form; false with `error` for media it
// does not take).
template <typename AppendMedia>
bool append_content_blocks(const ResolvedClient& c, const PromptMessage& m, std::string& out, std::string& error,
                           AppendMedia append_media) {
  out += '[';
  for (size_t i = 0; i < m.parts.size(); i++) {
    if (i) out += ',';
    const PromptPart& p = m.parts[i];
    if (p.kind == PromptPart::Kind::Text) {
      out += "{\"type\":\"text\",\"text\":";
      json::append_string(out, p.text);
      out += '}';
    } else if (!append_media(c, p.media, out, error)) {
      return false;
    }
  }
  out += ']';
  return true;
}

// The message bodies of each provider family: {options..., messages...}.
bool build_openai_body(const ResolvedClient& c, const RenderedPrompt& p, RequestMode mode, std::string& body,
                       std::string& error);
bool build_anthropic_body(const ResolvedClient& c, const RenderedPrompt& p, RequestMode mode, std::string& body,
                          std::string& error);

// ---- replies

// Reads a 2xx body of each shape into r.text and r.finish_reason; on a
// body that is not the shape, sets r.error (r.failure is set by the caller).
bool read_openai_reply(simdjson::dom::element root, ProviderReply& r);
bool read_anthropic_reply(simdjson::dom::element root, ProviderReply& r);

// Reads one parsed stream event of each shape into s (error set on Failed).
StreamEvent read_openai_event(simdjson::dom::element root, StreamState& s, std::string& error);
StreamEvent read_anthropic_event(std::string_view event, simdjson::dom::element root, StreamState& s,
                                 std::string& error);

// The provider's own message in an error body: error.message (OpenAI,
// Anthropic), error as a string (Ollama and others), message, or detail
// (FastAPI servers such as vLLM). "" when there is none.
std::string_view error_message_of(simdjson::dom::element root);

} // namespace brake::llm::detail
