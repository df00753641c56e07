#include "common/utf8.h"

#include <cstdint>

#include "simdjson.h"

namespace brake {

namespace {
// Length of the well-formed UTF-8 sequence at p (1-4), or 0 if there is none.
size_t sequence_at(const uint8_t* p, const uint8_t* end) {
  uint8_t c = *p;
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
  else return 0;
  if (static_cast<size_t>(end - p) <= n) return 0;
  for (size_t i = 1; i <= n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n + 1;
}
} // namespace

// simdjson's validator (SIMD; the same definition as sequence_at's): every
// string crossing into a script is checked, HTTP bodies included.
bool is_valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

void append_lossy_utf8(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const auto* run = p;
    size_t n;
    while (p < end && (n = sequence_at(p, end)) != 0) p += n;
    out.append(reinterpret_cast<const char*>(run), size_t(p - run));
    if (p < end) {
      out += "\xEF\xBF\xBD"; // U+FFFD for one byte that starts no sequence
      p++;
    }
  }
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t utf8_offset(std::string_view s, size_t index) {
  size_t i = 0;
  for (; i < s.size() && index > 0; index--) {
    i++;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) i++;
  }
  return i;
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  while (n > 0 && (uint8_t(s[n]) & 0xC0) == 0x80) n--; // s[n] continues a code point: cut before it
  return s.substr(0, n);
}

} // namespace brake
