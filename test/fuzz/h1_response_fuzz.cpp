// h1_response_fuzz: arbitrary bytes as a server's answer to the own HTTP/1.1
// client (http::ResponseReader). The first byte picks a HEAD request and a
// small response-size limit; the rest is read whole, then again in pieces
// whose sizes come from the input, then byte by byte, then in pieces with a
// 2xx body taken out as it arrives (a streamed body's parts, as the client
// hands them over): however the bytes arrive, the reader must give the same
// verdict and the same response (a streamed body: its parts and the rest).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/h1_client.h"

namespace {

struct Verdict {
  int code = 0;
  bool extra = false;
  brake::http::Answer answer;
  bool keep_alive = false;
  bool until_close = false;
};

// Reads `data` in pieces of the sizes `piece(i)` gives, stopping at a verdict.
// `stream`: a 2xx body is taken out after each piece (ResponseReader::streaming).
template <typename Piece>
Verdict read(const uint8_t* data, size_t size, bool head, uint64_t limit, Piece piece, bool stream = false) {
  brake::http::ResponseReader r;
  r.begin(head, limit, stream);
  Verdict v;
  std::string taken;
  size_t at = 0;
  for (size_t i = 0; at < size; i++) {
    size_t n = std::min(size - at, piece(i));
    v.code = r.feed(reinterpret_cast<const char*>(data) + at, n, v.extra);
    at += n;
    if (v.code != 0) break;
    if (r.streaming()) {
      taken += r.result.body;
      r.result.body.clear();
    }
  }
  if (!stream && !taken.empty()) abort(); // nothing streams unless asked
  // Bytes after a complete response count as extra however they came.
  if (v.code == 1 && at < size) v.extra = true;
  v.answer = r.result;
  v.answer.body = taken + r.result.body;
  v.keep_alive = r.keep_alive;
  v.until_close = r.until_close();
  if (r.max_bytes && v.answer.body.size() > r.max_bytes) abort(); // the limit holds
  return v;
}

bool same(const Verdict& a, const Verdict& b) {
  if (a.code != b.code || a.code < 0) return a.code == b.code; // failures may stop at different points
  if (a.code == 1 && a.extra != b.extra) return false;
  return a.answer.status == b.answer.status && a.answer.headers == b.answer.headers &&
         a.answer.body == b.answer.body && a.keep_alive == b.keep_alive && a.until_close == b.until_close;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool head = data[0] & 1;
  uint64_t limit = data[0] & 2 ? 64 : 0;
  const uint8_t* bytes = data + 1;
  size_t n = size - 1;
  Verdict whole = read(bytes, n, head, limit, [&](size_t) { return n; });
  Verdict pieces = read(bytes, n, head, limit, [&](size_t i) { return size_t(1 + (i < n ? bytes[i] % 17 : 3)); });
  Verdict single = read(bytes, n, head, limit, [](size_t) { return size_t(1); });
  Verdict streamed = read(bytes, n, head, limit, [&](size_t i) { return size_t(1 + (i < n ? bytes[i] % 23 : 5)); }, true);
  if (!same(whole, pieces) || !same(whole, single) || !same(whole, streamed)) abort();
  return 0;
}
