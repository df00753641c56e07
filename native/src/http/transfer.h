// transfer.h: what the native transport's two clients share. A request in
// flight is a Transfer of one of them: libcurl's (CurlDriver: HTTPS,
// proxies) or brake's own HTTP/1.1 client (H1Client: plain HTTP).
// NativeTransport (native_transport.h) picks the client, looks host names
// up, and drives both from the worker's one wait.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "http/request.h"

namespace brake::http {

struct TransferOptions {
  uint64_t timeout_ms = 0;         // 0: none (the engine keeps its own timer too)
  uint64_t connect_timeout_ms = 0; // 0: the default (300 s, as libcurl's)
  uint64_t max_response_bytes = 0; // 0: unlimited
  const std::string* ca_pem = nullptr; // extra CA certificates (PEM), or null: the system's store
  bool libcurl_only = false;       // every request through libcurl (no own HTTP/1.1 client)
  // A 2xx response's body is handed over in parts as it arrives (Answer::more),
  // not kept whole (an LLM's event stream). Other statuses answer once, whole.
  bool stream_body = false;
};

// The default connection-phase timeout (libcurl's own default), and the
// longest taken (about 35 years: no overflow as nanoseconds).
constexpr uint64_t kDefaultConnectTimeoutMs = 300000;
constexpr uint64_t kMaxConnectTimeoutMs = uint64_t(1) << 40;

// The connection phase's timeout a transfer gets.
inline uint64_t connect_timeout_ms(const TransferOptions& o) {
  uint64_t ms = o.connect_timeout_ms ? o.connect_timeout_ms : kDefaultConnectTimeoutMs;
  return ms < kMaxConnectTimeoutMs ? ms : kMaxConnectTimeoutMs;
}

struct Transfer {
  enum class Client : uint8_t { Curl, H1 };
  explicit Transfer(Client c) : client(c) {}
  const Client client;
  void* owner = nullptr;   // comes back with the result; null once doomed
  bool finished = false;   // doomed as it finished: nothing left to stop
};

// Transfers that ended in one turn of a client, and what streamed bodies
// still going gained in it (Answer::more): (owner, result), at most one
// entry per transfer.
using Finished = std::vector<std::pair<void*, Answer>>;

// The part of a streamed 2xx body that arrived since the last part, moved
// out of `body` into `finished` (nothing when none arrived).
inline void add_part(Finished& finished, void* owner, long status, std::string& body) {
  if (body.empty()) return;
  Answer part;
  part.more = true;
  part.status = status;
  part.body = std::move(body);
  body.clear();
  finished.emplace_back(owner, std::move(part));
}

} // namespace brake::http
