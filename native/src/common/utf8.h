// utf8.h: UTF-8 validation for source text and host strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace brake {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Appends `s` with each byte that starts no well-formed sequence replaced
// by U+FFFD.
void append_lossy_utf8(std::string& out, std::string_view s);

// Number of code points in valid UTF-8 text.
size_t utf8_length(std::string_view s);

// Appends code point `cp` (<= U+10FFFF) to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

// The longest prefix of valid UTF-8 text `s` of at most `max_bytes` bytes
// that does not split a code point.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

// Byte offset of code point `index` (clamped to s.size()).
size_t utf8_offset(std::string_view s, size_t index);

} // namespace brake
