// curl_transport.h: libcurl's client for the native transport (HTTPS,
// proxies, host names; native_transport.h says which requests). One per
// worker, made on its first such request: libcurl's multi interface driven
// through its socket interface, its sockets in the worker's epoll set
// (NativeTransport's), so nothing polls.
//
// Threads: everything here runs on the worker's thread. The socket callback
// only calls epoll_ctl and the timer callback stores an atomic.
//
// Built only with libcurl (BRAKE_HAVE_CURL); brake_http_native_available()
// says whether this build has it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/transfer.h"

namespace brake::http {

struct Address;
struct CurlTransfer;

class CurlDriver {
public:
  // Throws std::runtime_error when libcurl cannot be set up. Its sockets go
  // into `epoll` with data.u64 = fd << 1. `sockets` counts the sockets this
  // driver's transfers have open (idle keep-alive connections included); it
  // must outlive the driver.
  CurlDriver(int epoll, std::atomic<size_t>* sockets);
  ~CurlDriver();
  CurlDriver(const CurlDriver&) = delete;
  CurlDriver& operator=(const CurlDriver&) = delete;

  // Starts `req`; `owner` comes back with its result from act(). Returns
  // the transfer, or null with `error` set. `resolved`: the host name's
  // addresses (port 0), given to libcurl so it does not look the name up
  // itself. `wait_for_lookup`: the transfer waits (off the multi handle)
  // until launch() or fail_lookup().
  Transfer* start(const Request& req, const TransferOptions& options, void* owner,
                  const std::vector<Address>* resolved, bool wait_for_lookup, std::string& error);
  // `connect_ms`: what is left of its connection phase after the lookup.
  void launch(Transfer* t, const std::vector<Address>& resolved, uint64_t connect_ms, Finished& finished);
  void fail_lookup(Transfer* t, std::string why, Finished& finished);
  // Stops a transfer at once: removed from the multi handle, its connection
  // closed (it was in the middle of an exchange). Its result never comes.
  void cancel(Transfer* t);
  size_t active() const { return m_active; }
  // When curl's next timeout falls due (steady clock, ns; -1: none).
  int64_t deadline_ns() const { return m_deadline_ns.load(std::memory_order_relaxed); }
  // Lets libcurl act on `ready` (fd, epoll events) and its due timeouts;
  // appends each finished transfer's (owner, result) (it is gone by then).
  // A doomed transfer (owner null) that finished stays for cancel().
  void act(const std::vector<std::pair<int, uint32_t>>& ready, Finished& finished);

private:
  friend struct CurlTransfer;
  static int on_socket(void* easy, int fd, int what, void* self, void* socket_data);
  static int on_timer(void* multi, long timeout_ms, void* self);
  static int on_open_socket(void* transfer, int purpose, void* address);
  static int on_close_socket(void* self, int fd);
  void settle_sockets(CurlTransfer* t, int kept);
  void recycle(CurlTransfer* t);
  void remove(CurlTransfer* t, int kept);
  static int pooled_socket(CurlTransfer* t, int code);
  void set_shared_options(CurlTransfer* t, const TransferOptions& options);
  bool set_resolved(CurlTransfer* t, const std::vector<Address>& resolved);
  bool add(CurlTransfer* t, std::string& error);
  void finish(CurlTransfer* t, int code, Finished& finished);
  void release();

  int m_epoll;
  void* m_multi = nullptr;
  std::atomic<size_t>* m_sockets;
  std::unordered_map<int, CurlTransfer*> m_fds; // open sockets: their transfer, or null once pooled
  std::vector<CurlTransfer*> m_spare;           // finished transfers kept for their easy handles
  std::vector<CurlTransfer*> m_parts;           // streamed bodies that grew during this act()
  static constexpr size_t kMaxSpare = 64;
  size_t m_active = 0;
  std::atomic<int64_t> m_deadline_ns{-1}; // when curl's next timeout falls due (steady clock; -1: none)
};

// curl_global_init, once per process (any number of engines and threads).
void curl_init_once();

} // namespace brake::http
