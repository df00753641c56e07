// sse.h: server-sent events (the `text/event-stream` format providers
// stream replies in), decoded incrementally from the bytes of a response
// body as they arrive, in chunks cut anywhere.
//
// The rules are the HTML standard's "event stream interpretation": lines end
// in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of
// the next are one line end); a UTF-8 byte order mark at the start of the
// stream is dropped; a line starting with ':' is a comment; `field: value`
// (one space after the colon dropped), or a line with no colon is a field
// with an empty value; `event` names the event, `data` lines are joined
// with '\n', `id` sets the last event id (a value holding NUL is ignored),
// `retry` and unknown fields are ignored; a blank line dispatches the event
// (none when no data line came); what follows the last blank line when the
// stream ends is not an event.
//
// Limits: a line, or an event's data, longer than the decoder's limit stops
// it (feed returns false, error() says why): a stream is never buffered
// without bound, whatever the server sends.
//
// Threads: one decoder belongs to one stream; no locks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace brake::llm {

struct SseEvent {
  std::string type; // the `event` field, "" when none was given (the standard's "message")
  std::string data; // the data lines joined with '\n'
  std::string id;   // the last event id when it was dispatched
};

class SseDecoder {
public:
  // Past this many bytes in one line or one event's data, decoding stops.
  static constexpr size_t kDefaultMaxEventBytes = size_t(16) << 20;

  explicit SseDecoder(size_t max_event_bytes = kDefaultMaxEventBytes) : m_max(max_event_bytes) {}

  // Decodes `bytes`, the next piece of the body, appending each event it
  // completes to `out`. False (and nothing more is decoded) once a line or
  // an event's data passes the limit.
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

  // Whether the stream, ended here, ended between events: no partial line
  // or undispatched field is pending (a body that ends mid-event was cut).
  bool at_boundary() const;

  const std::string& error() const { return m_error; }
  // Bytes held for an unfinished line or event.
  size_t buffered() const { return m_line.size() + m_data.size() + m_type.size(); }

private:
  void line(std::string_view l, std::vector<SseEvent>& out);
  bool fail(const char* why);

  size_t m_max;
  std::string m_line; // an unfinished line (no end seen yet)
  std::string m_type, m_data, m_id;
  bool m_has_data = false;   // a data field came since the last dispatch
  bool m_fields = false;     // any field came since the last dispatch
  bool m_after_cr = false;   // the last byte fed was a CR: an LF next is part of that line end
  bool m_started = false;    // bytes have been fed (the BOM is looked for only at the start)
  size_t m_bom = 0;          // bytes of a byte order mark matched so far, at the start
  std::string m_error;
};

} // namespace brake::llm
