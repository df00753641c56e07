// provider_openai.cpp: OpenAI's chat completions (openai, openai-generic,
// azure-openai, ollama's /v1): the request body and the reply.
//
// Request: {<options>, "messages": [{"role", "content"}], "stream"?}. A
// message of text only has its content as a string; one with media has an
// array of parts (OpenAI's chat completions reference):
//   text          {"type":"text","text":...}
//   image         {"type":"image_url","image_url":{"url": URL or data:MIME;base64,DATA}}
//   audio         {"type":"input_audio","input_audio":{"data":DATA,"format":"wav"|"mp3"|...}}
//                 (base64 only: the API takes no audio URL)
//   pdf           {"type":"file","file":{"file_data":"data:application/pdf;base64,DATA"}}
//                 (base64 only: the API takes no file URL)
//   video         refused (the API takes none)
// Reply: choices[0].message.content (a string, or parts whose text is
// joined; null gives "", unless message.refusal says why) and
// choices[0].finish_reason. Further choices (n > 1) are not read.
// Streamed: each data is a chunk whose choices[0].delta.content is the next
// piece of text; "[DONE]" ends the stream.
#include "llm/provider_internal.h"
#include "json/json.h"

namespace brake::llm::detail {

namespace {

bool text_only(const PromptMessage& m) {
  for (const PromptPart& p : m.parts)
    if (p.kind != PromptPart::Kind::Text) return false;
  return true;
}

bool refuse(std::string& error, const ResolvedClient& c, const Media& m, const char* why) {
  error = std::string(provider_name(c.provider)) + " client '" + c.name + "' cannot send this " +
          media_kind_name(m.kind) + ": " + why;
  return false;
}

// "data:MIME;base64,DATA" as a JSON string.
bool append_data_url(std::string& out, std::string_view mime, std::string_view data) {
  out += "\"data:";
  out.append(mime);
  out += ";base64,";
  if (!append_base64(out, data)) return false;
  out += '"';
  return true;
}

// OpenAI's input_audio format: the MIME subtype (audio/wav -> wav,
// audio/mpeg -> mp3), without an "x-" prefix.
std::string_view audio_format(std::string_view mime) {
  std::string_view sub = mime.substr(mime.find('/') + 1);
  if (sub.substr(0, 2) == "x-") sub.remove_prefix(2);
  if (sub == "mpeg" || sub == "mpeg3") return "mp3";
  if (sub == "wave") return "wav";
  return sub;
}

bool append_media(const ResolvedClient& c, const Media& m, std::string& out, std::string& error) {
  bool url = !m.url.empty();
  if (!url && !m.mime_type.empty() && !plain_mime(m.mime_type))
    return refuse(error, c, m, "its MIME type is not of the form type/subtype");
  size_t mark = out.size();
  switch (m.kind) {
  case Media::Kind::Image:
    out += "{\"type\":\"image_url\",\"image_url\":{\"url\":";
    if (url) {
      json::append_string(out, m.url);
    } else {
      if (m.mime_type.empty()) return refuse(error, c, m, "base64 data needs its MIME type (image/png, ...)");
      if (!append_data_url(out, m.mime_type, m.base64)) break;
    }
    out += "}}";
    return true;
  case Media::Kind::Audio:
    if (url) return refuse(error, c, m, "OpenAI takes audio as base64 data, not a URL");
    if (m.mime_type.empty()) return refuse(error, c, m, "base64 data needs its MIME type (audio/wav, audio/mpeg)");
    out += "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"";
    if (!append_base64(out, m.base64)) break;
    out += "\",\"format\":";
    json::append_string(out, audio_format(m.mime_type));
    out += "}}";
    return true;
  case Media::Kind::Pdf:
    if (url) return refuse(error, c, m, "OpenAI takes a PDF as base64 data, not a URL");
    out += "{\"type\":\"file\",\"file\":{\"file_data\":";
    if (!append_data_url(out, m.mime_type.empty() ? "application/pdf" : std::string_view(m.mime_type), m.base64)) break;
    out += "}}";
    return true;
  case Media::Kind::Video: return refuse(error, c, m, "OpenAI's chat completions take no video");
  }
  out.resize(mark);
  return refuse(error, c, m, "its base64 data has characters base64 does not use");
}

bool append_content(const ResolvedClient& c, const PromptMessage& m, std::string& out, std::string& error) {
  if (text_only(m)) {
    if (m.parts.size() == 1) {
      json::append_string(out, m.parts[0].text);
    } else { // (adjacent text parts are merged: not expected)
      std::string all;
      for (const PromptPart& p : m.parts) all += p.text;
      json::append_string(out, all);
    }
    return true;
  }
  return append_content_blocks(c, m, out, error, append_media);
}

} // namespace

bool build_openai_body(const ResolvedClient& c, const RenderedPrompt& p, RequestMode mode, std::string& body,
                       std::string& error) {
  body += '{';
  if (!c.body_options.empty()) {
    body += c.body_options;
    body += ',';
  }
  body += "\"messages\":[";
  for (size_t i = 0; i < p.messages.size(); i++) {
    const PromptMessage& m = p.messages[i];
    body += i ? ",{\"role\":" : "{\"role\":";
    json::append_string(body, role_for(c, m.role));
    body += ",\"content\":";
    if (!append_content(c, m, body, error)) return false;
    body += '}';
  }
  body += ']';
  if (mode == RequestMode::Stream) {
    body += ",\"stream\":true";
    // BAML asks OpenAI itself for the usage at the end of a stream.
    if (c.provider == Provider::OpenAI && !c.has_stream_options) body += ",\"stream_options\":{\"include_usage\":true}";
  }
  body += '}';
  return true;
}

bool read_openai_reply(simdjson::dom::element root, ProviderReply& r) {
  simdjson::dom::object reply;
  if (root.get_object().get(reply)) {
    r.error = "the response is not a JSON object (expected a chat completion)";
    return false;
  }
  simdjson::dom::array choices;
  if (reply["choices"].get_array().get(choices)) {
    std::string_view message = error_message_of(root);
    r.error = message.empty() ? "the response has no choices array (expected a chat completion)"
                              : "the response is an error: " + std::string(message);
    return false;
  }
  if (choices.begin() == choices.end()) {
    r.error = "the response's choices are empty";
    return false;
  }
  simdjson::dom::object choice, message;
  if ((*choices.begin()).get_object().get(choice) || choice["message"].get_object().get(message)) {
    r.error = "the response's choices[0] has no message object";
    return false;
  }
  simdjson::dom::element content;
  std::string_view s;
  if (message["content"].get(content) || content.is_null()) {
    if (!message["refusal"].get_string().get(s)) {
      r.error = "the model refused: " + std::string(s);
      return false;
    }
  } else if (!content.get_string().get(s)) {
    r.text.assign(s);
  } else if (simdjson::dom::array parts; !content.get_array().get(parts)) {
    for (simdjson::dom::element part : parts)
      if (!part["text"].get_string().get(s)) r.text.append(s);
  } else {
    r.error = "the response's choices[0].message.content is neither text nor null";
    return false;
  }
  if (!choice["finish_reason"].get_string().get(s)) r.finish_reason.assign(s);
  return true;
}

// A chat.completion.chunk: choices[0].delta.content and
// choices[0].finish_reason; a chunk without choices (the usage at the end)
// adds nothing.
StreamEvent read_openai_event(simdjson::dom::element root, StreamState& s, std::string& error) {
  simdjson::dom::object chunk;
  if (root.get_object().get(chunk)) {
    error = "a stream event is not a JSON object (expected a chat completion chunk)";
    return StreamEvent::Failed;
  }
  simdjson::dom::array choices;
  if (chunk["choices"].get_array().get(choices)) {
    std::string_view message = error_message_of(root);
    if (message.empty() && chunk["error"].error()) return StreamEvent::Nothing;
    error = "the stream carries an error: " + std::string(message.empty() ? "(no message)" : message);
    return StreamEvent::Failed;
  }
  if (choices.begin() == choices.end()) return StreamEvent::Nothing;
  simdjson::dom::element choice = *choices.begin();
  std::string_view text, reason;
  size_t before = s.text.size();
  if (!choice["delta"]["content"].get_string().get(text)) s.text.append(text);
  if (!choice["finish_reason"].get_string().get(reason)) s.finish_reason.assign(reason);
  return s.text.size() > before ? StreamEvent::Delta : StreamEvent::Nothing;
}

} // namespace brake::llm::detail
