#include "llm/sse.h"

#include <cstring>

namespace brake::llm {

namespace {
constexpr char kBom[] = "\xEF\xBB\xBF";
} // namespace

bool SseDecoder::fail(const char* why) {
  m_error = std::string(why) + " is longer than " + std::to_string(m_max) + " bytes";
  m_line.clear();
  m_data.clear();
  return false;
}

bool SseDecoder::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (!m_error.empty()) return false;
  size_t i = 0, n = bytes.size();
  if (!m_started) {
    // A byte order mark, perhaps cut between chunks, before anything else.
    while (m_bom < 3 && i < n && bytes[i] == kBom[m_bom]) m_bom++, i++;
    if (m_bom < 3 && i == n) return true; // all of it may still be a mark
    if (m_bom < 3) m_line.append(kBom, m_bom); // not a mark after all: text
    m_started = true;
  }
  if (i < n) {
    if (m_after_cr && bytes[i] == '\n') i++; // the LF of a CRLF cut after its CR
    m_after_cr = false;
  }
  while (i < n) {
    size_t j = i;
    while (j < n && bytes[j] != '\n' && bytes[j] != '\r') j++;
    if (j == n) {
      m_line.append(bytes.data() + i, n - i);
      if (m_line.size() > m_max) return fail("a line of the event stream");
      break;
    }
    std::string_view l = bytes.substr(i, j - i);
    if (!m_line.empty()) {
      m_line.append(l);
      l = m_line;
    }
    if (l.size() > m_max) return fail("a line of the event stream");
    line(l, out);
    m_line.clear();
    if (!m_error.empty()) return false;
    if (bytes[j] == '\r') {
      if (j + 1 == n) m_after_cr = true;
      else if (bytes[j + 1] == '\n') j++;
    }
    i = j + 1;
  }
  return true;
}

void SseDecoder::line(std::string_view l, std::vector<SseEvent>& out) {
  if (l.empty()) { // dispatch
    if (m_has_data) out.push_back(SseEvent{m_type, m_data, m_id});
    m_type.clear();
    m_data.clear();
    m_has_data = false;
    m_fields = false;
    return;
  }
  if (l.front() == ':') return; // a comment
  m_fields = true;
  size_t colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    m_type.assign(value);
  } else if (field == "data") {
    if (m_has_data) m_data += '\n';
    m_data.append(value);
    m_has_data = true;
    if (m_data.size() > m_max) fail("an event's data");
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) m_id.assign(value);
  }
  // retry, and fields the standard does not define: ignored.
}

bool SseDecoder::at_boundary() const {
  return m_error.empty() && m_line.empty() && !m_fields && (m_started || m_bom == 0);
}

} // namespace brake::llm
