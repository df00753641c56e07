// h1_client.h: brake's own HTTP/1.1 client, the native transport's client
// for plain HTTP (local model servers, sidecars, services inside a cluster,
// tests), which is where a request's cost is the client's own. libcurl
// spends more on a small request than the kernel's loopback does (two polls
// per request, per-request option and header handling, a 16 KB buffer per
// transfer); this client writes the request in one send, reads the answer
// with as few recv calls as it takes, and registers each socket in the
// worker's epoll set once (edge-triggered), so a keep-alive request costs a
// send, a recv and its share of one epoll_wait.
//
// What it does, as the libcurl client does for the same request: keep-alive
// connections per host and port (idle ones stay in the epoll set, so a server
// closing one is noticed), a request on a reused connection that the server
// had closed is sent again once on a new connection, responses framed by
// content-length, chunked encoding or the connection's end, 1xx interim
// responses skipped, the connection phase bounded by the connect timeout,
// the body by the response-size limit. Host names are looked up by the
// transport (resolver.h). What it leaves to libcurl: HTTPS, proxies,
// credentials in the URL, and requests that set transfer-encoding or expect
// themselves (takes()).
//
// Threads: the worker's thread only (NativeTransport's doom is the stand-in's).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/transfer.h"

namespace brake::http {

struct Address;
struct H1Conn;
struct H1Exchange;

// One HTTP/1.x response read from bytes as they arrive (the client's
// parser, on its own for test/fuzz/h1_response_fuzz.cpp): the status line
// and headers (names in lower case, repeats joined with ", ", folded lines
// unfolded), then the body framed by content-length, chunked encoding (with
// extensions and trailers, which are dropped) or the connection's end;
// interim 1xx responses are skipped. Bounded: 256 KiB of head, 4 KiB per
// chunk line, max_bytes of body.
struct ResponseReader {
  // `stream`: a 2xx body is taken out in parts as it arrives (streaming()).
  void begin(bool head_only, uint64_t max_bytes, bool stream = false);
  // Takes n bytes: -1 when the response is malformed or over a limit
  // (`problem` says why), 0 while more is to come, 1 once it is complete
  // (`extra`: bytes followed it, which a kept connection must not have).
  int feed(const char* p, size_t n, bool& extra);
  // Whether the body runs to the connection's end (complete at EOF).
  bool until_close() const { return read == Read::UntilClose; }
  // Whether the body so far may be taken out of result.body as a part (the
  // head has come, with a 2xx status, and the reader was begun to stream).
  bool streaming() const { return stream && read != Read::Head && result.status >= 200 && result.status < 300; }

  Answer result;         // status, headers, body
  bool keep_alive = true; // the connection may carry another exchange (HTTP's view)
  std::string problem;
  bool head_only = false; // HEAD: no body follows the head
  uint64_t max_bytes = 0;
  bool stream = false;
  uint64_t body_bytes = 0; // the body's bytes so far, parts taken out included

private:
  bool parse_head(std::string_view head);
  bool take(const char* p, size_t n);
  int bad(std::string why) {
    problem = std::move(why);
    return -1;
  }
  enum class Read : uint8_t { Head, Fixed, Chunked, UntilClose, Done } read = Read::Head;
  enum class Chunk : uint8_t { Size, Data, DataEnd, Trailer } chunk = Chunk::Size;
  std::string line;   // Head: the head so far (when it spans reads); Chunked: the current line
  uint64_t left = 0;  // Fixed: body bytes to come; Chunked: bytes left of this chunk
  bool http10 = false;
};

class H1Client {
public:
  // Connections go into `epoll` with data.u64 = the connection's address | 1.
  H1Client(int epoll, std::atomic<size_t>* sockets);
  ~H1Client();
  H1Client(const H1Client&) = delete;
  H1Client& operator=(const H1Client&) = delete;

  // Whether this client performs `req` (see above).
  static bool takes(const Request& req);
  // Starts `req` (takes(req) holds); null with `error` when it cannot
  // start. `resolved`: the host name's addresses (port 0) when the transport
  // has them cached. A host name without them leaves the exchange
  // resolving() until the transport calls resume() or fail_lookup().
  Transfer* start(const Request& req, const TransferOptions& options, void* owner,
                  const std::vector<Address>* resolved, std::string& error);
  static bool resolving(const Transfer* t);
  void resume(Transfer* t, const std::vector<Address>& resolved, Finished& finished);
  void fail_lookup(Transfer* t, std::string why, Finished& finished);
  // Stops an exchange at once: its connection is reset (an abortive close),
  // unless the exchange had finished (doomed as it finished).
  void cancel(Transfer* t);
  size_t active() const { return m_active; }
  // When the earliest connection phase times out (steady clock, ns; -1: none).
  int64_t deadline_ns() const { return m_connecting.empty() ? -1 : m_connecting.begin()->first; }
  // Acts on what the worker's wait saw for connection `conn` (an epoll
  // data.u64 without its tag bit) and on due connect timeouts; appends each
  // finished exchange's (owner, result) (it is gone by then). A doomed one
  // (owner null) that finished stays for cancel().
  void act(const std::vector<std::pair<uint64_t, uint32_t>>& ready, Finished& finished);

private:
  friend struct H1Exchange;
  // Connects `x` to its next address (x->addr_index on); false with
  // `error` when every address failed at once. `failed_with`: the errno of
  // the attempt before (for the message when none is left).
  bool open(H1Exchange* x, std::string& error, int failed_with = 0);
  static bool alive(H1Conn* c);
  static void with_port(const std::vector<Address>& in, uint16_t port, std::vector<Address>& out);
  void on_event(H1Conn* c, uint32_t events, Finished& finished);
  void on_connected(H1Exchange* x, Finished& finished);
  void send_some(H1Exchange* x, Finished& finished);
  void receive(H1Exchange* x, uint32_t events, Finished& finished);
  void part(H1Exchange* x, Finished& finished);
  void end(H1Exchange* x, Finished& finished, bool keep);
  void fail(H1Exchange* x, std::string why, Finished& finished);
  bool retry(H1Exchange* x, Finished& finished);
  void close_conn(H1Conn* c, bool reset);
  void drop_deadline(H1Exchange* x);
  H1Conn* pooled(const std::string& key);

  int m_epoll;
  std::atomic<size_t>* m_sockets;
  size_t m_active = 0;
  // Idle keep-alive connections by "host:port", the most recent last.
  std::unordered_map<std::string, std::vector<H1Conn*>> m_idle;
  size_t m_idle_count = 0;
  // Exchanges in their connection phase, by when it times out.
  std::multimap<int64_t, H1Exchange*> m_connecting;
  // Connections closed during act(): freed once its ready list is done.
  std::vector<H1Conn*> m_dead;
  bool m_acting = false;
  std::unique_ptr<char[]> m_buffer; // what one recv reads into
  static constexpr size_t kBuffer = 64 * 1024;
};

} // namespace brake::http
