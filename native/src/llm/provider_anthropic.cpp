// provider_anthropic.cpp: Anthropic's messages API: the request body and
// the reply.
//
// Request: {<options>, "system"?, "messages": [{"role", "content": [blocks]}],
// "stream"?}. BAML's rule for system messages: the first message, when its
// role is system, becomes the top-level `system` (its text blocks); any
// later system message is sent with the assistant role (the messages API
// takes only user and assistant turns). Content is always an array of
// blocks (Anthropic's messages reference):
//   text    {"type":"text","text":...}
//   image   {"type":"image","source":{"type":"url","url":...}}
//           {"type":"image","source":{"type":"base64","media_type":MIME,"data":DATA}}
//   pdf     {"type":"document","source":{...}} (the same two sources;
//           application/pdf when base64 data comes without a MIME type)
//   audio, video: refused (the API takes neither)
// Reply: the text blocks of `content`, joined; stop_reason. A 2xx body of
// type "error" is an error. Streamed: see read_anthropic_event.
#include "llm/provider_internal.h"
#include "json/json.h"

namespace brake::llm::detail {

namespace {

bool refuse(std::string& error, const ResolvedClient& c, const Media& m, const char* why) {
  error = "anthropic client '" + c.name + "' cannot send this " + std::string(media_kind_name(m.kind)) + ": " + why;
  return false;
}

bool append_media(const ResolvedClient& c, const Media& m, std::string& out, std::string& error) {
  if (m.kind == Media::Kind::Audio || m.kind == Media::Kind::Video)
    return refuse(error, c, m, "Anthropic's messages API takes images and PDFs only");
  bool pdf = m.kind == Media::Kind::Pdf;
  out += pdf ? "{\"type\":\"document\",\"source\":{\"type\":" : "{\"type\":\"image\",\"source\":{\"type\":";
  if (!m.url.empty()) {
    out += "\"url\",\"url\":";
    json::append_string(out, m.url);
    out += "}}";
    return true;
  }
  std::string_view mime = m.mime_type;
  if (mime.empty() && pdf) mime = "application/pdf";
  if (mime.empty()) return refuse(error, c, m, "base64 data needs its MIME type (image/png, ...)");
  if (!plain_mime(mime)) return refuse(error, c, m, "its MIME type is not of the form type/subtype");
  out += "\"base64\",\"media_type\":\"";
  out.append(mime);
  out += "\",\"data\":\"";
  if (!append_base64(out, m.base64)) return refuse(error, c, m, "its base64 data has characters base64 does not use");
  out += "\"}}";
  return true;
}

bool append_blocks(const ResolvedClient& c, const PromptMessage& m, std::string& out, std::string& error) {
  return append_content_blocks(c, m, out, error, append_media);
}

} // namespace

bool build_anthropic_body(const ResolvedClient& c, const RenderedPrompt& p, RequestMode mode, std::string& body,
                          std::string& error) {
  body += '{';
  if (!c.body_options.empty()) {
    body += c.body_options;
    body += ',';
  }
  size_t first = 0;
  if (role_for(c, p.messages[0].role) == "system") {
    body += "\"system\":";
    if (!append_blocks(c, p.messages[0], body, error)) return false;
    body += ',';
    first = 1;
  }
  body += "\"messages\":[";
  for (size_t i = first; i < p.messages.size(); i++) {
    const PromptMessage& m = p.messages[i];
    std::string_view role = role_for(c, m.role);
    if (role == "system") role = "assistant";
    body += i > first ? ",{\"role\":" : "{\"role\":";
    json::append_string(body, role);
    body += ",\"content\":";
    if (!append_blocks(c, m, body, error)) return false;
    body += '}';
  }
  body += ']';
  if (mode == RequestMode::Stream) body += ",\"stream\":true";
  body += '}';
  return true;
}

bool read_anthropic_reply(simdjson::dom::element root, ProviderReply& r) {
  simdjson::dom::object reply;
  if (root.get_object().get(reply)) {
    r.error = "the response is not a JSON object (expected a message)";
    return false;
  }
  std::string_view s;
  simdjson::dom::array content;
  if (reply["content"].get_array().get(content)) {
    std::string_view message = error_message_of(root);
    r.error = message.empty() ? "the response has no content array (expected a message)"
                              : "the response is an error: " + std::string(message);
    return false;
  }
  for (simdjson::dom::element block : content) {
    if (!block["type"].get_string().get(s) && s == "text" && !block["text"].get_string().get(s)) r.text.append(s);
  }
  if (!reply["stop_reason"].get_string().get(s)) r.finish_reason.assign(s);
  return true;
}

// Anthropic's stream events, by their data's type (the event's name when
// the data has none): text from content_block_start and text_delta deltas,
// the stop reason from message_delta, the end at message_stop; other and
// future event types add nothing (Anthropic's streaming reference says new
// ones may appear).
StreamEvent read_anthropic_event(std::string_view event, simdjson::dom::element root, StreamState& s,
                                 std::string& error) {
  simdjson::dom::object data;
  if (root.get_object().get(data)) {
    error = "a stream event is not a JSON object (expected a message event)";
    return StreamEvent::Failed;
  }
  std::string_view type, text;
  if (data["type"].get_string().get(type)) type = event;
  size_t before = s.text.size();
  if (type == "content_block_start") {
    simdjson::dom::element block;
    if (!data["content_block"].get(block) && !block["type"].get_string().get(text) && text == "text" &&
        !block["text"].get_string().get(text))
      s.text.append(text);
  } else if (type == "content_block_delta") {
    simdjson::dom::element delta;
    if (!data["delta"].get(delta) && !delta["type"].get_string().get(text) && text == "text_delta" &&
        !delta["text"].get_string().get(text))
      s.text.append(text);
  } else if (type == "message_delta") {
    if (!data["delta"]["stop_reason"].get_string().get(text)) s.finish_reason.assign(text);
  } else if (type == "message_stop") {
    s.done = true;
    return StreamEvent::Done;
  } else if (type == "error") {
    std::string_view message = error_message_of(root);
    error = "the stream carries an error: " + std::string(message.empty() ? "(no message)" : message);
    return StreamEvent::Failed;
  } else if (type.empty()) {
    error = "a stream event has no type (expected a message event)";
    return StreamEvent::Failed;
  }
  return s.text.size() > before ? StreamEvent::Delta : StreamEvent::Nothing;
}

} // namespace brake::llm::detail
