// native_transport.h: the native HTTP transport of one worker (made on its
// first request). Plain HTTP goes to brake's own HTTP/1.1 client
// (h1_client.h); everything else (HTTPS, proxies), or every request with
// TransferOptions::libcurl_only, to libcurl (curl_transport.h, made on its
// first request). Host names are looked up by the transport's resolver
// (resolver.h) for both clients, so a cancel during a lookup never waits
// for it (libcurl resolves itself only for proxied requests). Both clients' sockets and
// an eventfd that posts to the worker write are in one epoll set: the worker
// sleeps in wait() whenever it has transfers, instead of its condition
// variable, and nothing polls.
//
// Threads: everything here runs on the worker's thread, except doom(),
// which a thread that has claimed the worker while it waits (the stand-in
// rule, worker.h) may call: the worker is then blocked in epoll_wait, so
// doom() (which touches only the doomed list and the transfer's owner)
// never races it.
//
// Built only with libcurl (BRAKE_HAVE_CURL); brake_http_native_available()
// says whether this build has it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/transfer.h"

namespace brake::http {

class CurlDriver;
class H1Client;
class Resolver;

class NativeTransport {
public:
  // Throws std::runtime_error when epoll or the eventfd cannot be set up.
  // `sockets` counts the sockets the transport has open (idle keep-alive
  // connections included); it must outlive the transport.
  explicit NativeTransport(std::atomic<size_t>* sockets);
  ~NativeTransport();
  NativeTransport(const NativeTransport&) = delete;
  NativeTransport& operator=(const NativeTransport&) = delete;

  // Starts `req`; `owner` comes back with its result from drive(). Returns
  // the transfer (for doom()), or null with `error` set.
  Transfer* start(const Request& req, const TransferOptions& options, void* owner, std::string& error);
  // Marks a transfer whose call has settled (or never started) as
  // cancelled: its result never comes, and bury() stops it. The worker buries
  // right after delivering the completions, so a cancelled call settles
  // without waiting for its socket's teardown (the costly part of a cancel:
  // on loopback the kernel does the peer's side of the close too) and the
  // socket closes a moment later, on the worker.
  void doom(Transfer* t);
  // Stops every doomed transfer (its connection is reset); returns how many.
  size_t bury();
  bool has_doomed() const { return !m_doomed.empty(); }

  // The file descriptor a poster writes to wake the worker (an eventfd).
  int wake_fd() const { return m_wake_fd; }
  // Sleeps until a socket is ready, the wake fd is written, or timeout_ms
  // passes (-1: no timeout of the caller's); the clients' own next timeouts
  // also bound it. Records what is ready for drive().
  void wait(int timeout_ms);
  // Lets the clients act on what wait() saw and on their due timeouts;
  // calls done(owner, result) for each finished transfer (it is gone by
  // then) and for what each streamed body still going gained (result.more):
  // one call per transfer per turn, so `done` may doom the transfer whose
  // part it was given.
  template <typename Done> void drive(Done&& done) {
    m_finished.clear();
    act(m_finished);
    for (auto& [owner, result] : m_finished) done(owner, result);
    m_finished.clear();
  }

private:
  void act(Finished& finished);
  void answer_lookups(Finished& finished);
  void cancel(Transfer* t);
  void cancel_in_client(Transfer* t);
  void release();

  int m_epoll = -1;
  int m_wake_fd = -1;
  std::atomic<size_t>* m_sockets;
  std::unique_ptr<H1Client> m_h1;
  std::unique_ptr<CurlDriver> m_curl;
  std::unique_ptr<Resolver> m_resolver;      // made on the first host name to look up
  bool m_lookups_ready = false;               // its eventfd fired in the last wait
  // Transfers waiting for their host name's lookup, by host name; each
  // fails when its connection phase (connect timeout) passes first.
  struct Waiter {
    Transfer* t;
    int64_t deadline_ns;
    uint64_t timeout_ms;
  };
  std::unordered_map<std::string, std::vector<Waiter>> m_waiting;
  void expire_lookups(Finished& finished);
  void fail_lookup(Transfer* t, std::string why, Finished& finished);
  size_t m_active = 0;
  std::vector<Transfer*> m_doomed;
  std::vector<std::pair<int, uint32_t>> m_curl_ready;    // (fd, epoll events) from the last wait
  std::vector<std::pair<uint64_t, uint32_t>> m_h1_ready; // (connection, epoll events)
  Finished m_finished;
};

} // namespace brake::http
