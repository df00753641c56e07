// sse_fuzz: arbitrary bytes as a streamed response body through the
// server-sent-event decoder (llm/sse.h), fed whole and cut into pieces
// whose sizes the input's first byte picks: both must give the same events,
// the same success and the same end state (events never depend on where
// the network cut the body). A small limit makes the limits reachable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "llm/sse.h"

namespace {
struct Decoded {
  std::vector<brake::llm::SseEvent> events;
  bool ok = true;
  bool boundary = false;
};

Decoded decode(std::string_view body, size_t piece) {
  brake::llm::SseDecoder d(512);
  Decoded out;
  for (size_t i = 0; i < body.size() && out.ok; i += piece) out.ok = d.feed(body.substr(i, piece), out.events);
  out.boundary = d.at_boundary();
  return out;
}

bool same(const Decoded& a, const Decoded& b) {
  if (a.ok != b.ok || a.boundary != b.boundary || a.events.size() != b.events.size()) return false;
  for (size_t i = 0; i < a.events.size(); i++)
    if (a.events[i].type != b.events[i].type || a.events[i].data != b.events[i].data || a.events[i].id != b.events[i].id)
      return false;
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = size_t(data[0] % 16) + 1;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  Decoded whole = decode(body, body.size() ? body.size() : 1);
  if (!same(whole, decode(body, piece)) || !same(whole, decode(body, 1))) abort();
  return 0;
}
