#include "runtime/call_stream.h"

namespace brake::runtime {

bool CallStream::push(brake_stream_event&& ev) {
  std::lock_guard<std::mutex> lock(m_mu);
  if (ev.kind == BRAKE_STREAM_DELTA && m_deltas >= kMaxPendingDeltas) {
    for (size_t i = m_pending.size(); i-- > 0;) {
      brake_stream_event& p = m_pending[i];
      if (p.kind == BRAKE_STREAM_ATTEMPT) break;
      if (p.kind == BRAKE_STREAM_DELTA && p.attempt == ev.attempt && p.function == ev.function && p.client == ev.client) {
        p.text += ev.text; // m_queued holds: something is pending
        if (i + 1 < m_pending.size() && m_pending.back().kind == BRAKE_STREAM_PARTIAL) m_pending.pop_back();
        return false;
      }
    }
  }
  m_pending.reserve(m_pending.size() + 1); // the only step that can fail
  if (ev.kind == BRAKE_STREAM_PARTIAL) {
    for (size_t i = m_pending.size(); i-- > 0;) {
      if (m_pending[i].kind == BRAKE_STREAM_ATTEMPT) break;
      if (m_pending[i].kind == BRAKE_STREAM_PARTIAL) {
        m_pending.erase(m_pending.begin() + std::ptrdiff_t(i));
        break;
      }
    }
  }
  if (ev.kind == BRAKE_STREAM_WATCH && (m_watches >= kMaxPendingWatches || m_watch_bytes >= kMaxPendingWatchBytes)) {
    // The newest value of a variable replaces its undelivered one.
    for (size_t i = m_pending.size(); i-- > 0;) {
      const brake_stream_event& p = m_pending[i];
      if (p.kind == BRAKE_STREAM_WATCH && p.function == ev.function && p.text == ev.text) {
        m_watches--;
        m_watch_bytes -= p.bytes;
        m_pending.erase(m_pending.begin() + std::ptrdiff_t(i));
        break;
      }
    }
  }
  if (ev.kind == BRAKE_STREAM_DELTA) m_deltas++;
  if (ev.kind == BRAKE_STREAM_WATCH) {
    m_watches++;
    m_watch_bytes += ev.bytes;
  }
  m_pending.push_back(std::move(ev));
  if (m_queued) return false;
  m_queued = true;
  retain();
  return true;
}

bool CallStream::partial_pending() {
  std::lock_guard<std::mutex> lock(m_mu);
  for (const brake_stream_event& ev : m_pending)
    if (ev.kind == BRAKE_STREAM_PARTIAL) return true;
  return false;
}

void CallStream::deliver() {
  std::vector<brake_stream_event> batch;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    batch.swap(m_pending);
    m_deltas = 0;
    m_watches = 0;
    m_watch_bytes = 0;
    m_queued = false;
  }
  for (const brake_stream_event& ev : batch) m_fn(m_user_data, &ev);
}

} // namespace brake::runtime
