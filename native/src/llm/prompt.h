// prompt.h: a rendered prompt, what a template gives (llm/template.h) and a
// provider turns into a request body (llm/provider.h).
//
// A template that never calls _.role()/_.chat() renders a completion prompt
// (one text); one that does renders chat messages. Either way a provider
// sees messages: a completion prompt is one message with the client's
// default role.
#pragma once

#include <string>
#include <vector>

namespace brake::llm {

// An image, audio clip, PDF or video given as an argument: a URL, or data
// in base64 with its MIME type.
struct Media {
  enum class Kind : uint8_t { Image, Audio, Pdf, Video } kind = Kind::Image;
  std::string url;       // set for a URL
  std::string base64;    // set for inline data
  std::string mime_type; // may be empty for a URL
};

struct PromptPart {
  enum class Kind : uint8_t { Text, Media } kind = Kind::Text;
  std::string text; // Text
  Media media;      // Media
};

struct PromptMessage {
  std::string role;
  std::vector<PromptPart> parts; // adjacent text parts are merged; never empty
};

struct RenderedPrompt {
  bool chat = false; // the template set roles itself
  std::vector<PromptMessage> messages;
};

} // namespace brake::llm
