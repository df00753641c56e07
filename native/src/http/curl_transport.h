// curl_transport.h: the native HTTP transport. One CurlDriver per worker
// (made on its first request): libcurl's multi interface driven through its
// socket interface from the worker's own loop. The worker sleeps in
// CurlDriver::wait (epoll over curl's sockets and an eventfd that posts to
// the worker write) whenever it has transfers, instead of its condition
// variable; nothing polls.
//
// Threads: everything here runs on the worker's thread, or on a thread that
// has claimed the worker while it waits (the stand-in rule, worker.h): the
// worker is then blocked in epoll_wait, outside libcurl, so libcurl's
// handles are used by one thread at a time. The socket callback only calls
// epoll_ctl (thread-safe) and the timer callback stores an atomic, so what
// a stand-in's remove() touches never races the worker's wait.
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

#include "http/request.h"

namespace brake::http {

struct Transfer;
class CurlDriver;

struct TransferOptions {
  uint64_t timeout_ms = 0;         // 0: none (the engine keeps its own timer too)
  uint64_t connect_timeout_ms = 0; // 0: libcurl's default
  uint64_t max_response_bytes = 0; // 0: unlimited
  const std::string* ca_pem = nullptr; // extra CA certificates (PEM), or null: the system's store
};

class CurlDriver {
public:
  // Throws std::runtime_error when libcurl, epoll or eventfd cannot be set up.
  // `sockets` counts the sockets this driver's transfers have open (idle
  // keep-alive connections included); it must outlive the driver.
  explicit CurlDriver(std::atomic<size_t>* sockets);
  ~CurlDriver();
  CurlDriver(const CurlDriver&) = delete;
  CurlDriver& operator=(const CurlDriver&) = delete;

  // Starts `req`; `owner` comes back with its result from drive(). Returns
  // the transfer (for cancel()), or null with `error` set.
  Transfer* start(const Request& req, const TransferOptions& options, void* owner, std::string& error);
  // Stops a transfer at once: removed from the multi handle, its connection
  // closed (it was in the middle of an exchange). Its result never comes.
  void cancel(Transfer* t);
  // Marks a transfer whose call has settled as cancelled: its result never
  // comes, and bury() cancels it. Calls no libcurl function, so a stand-in
  // may use it; the worker buries right after delivering the completions, so
  // a cancelled call settles without waiting for its socket's teardown (the
  // costly part of a cancel: on loopback the kernel does the peer's side of
  // the close too) and the socket closes a moment later, on the worker.
  void doom(Transfer* t);
  // Cancels every doomed transfer; returns how many.
  size_t bury();
  bool has_doomed() const { return !m_doomed.empty(); }
  size_t active() const { return m_active; }

  // The file descriptor a poster writes to wake the worker (an eventfd).
  int wake_fd() const { return m_wake_fd; }
  // Sleeps until a socket is ready, the wake fd is written, or timeout_ms
  // passes (-1: no timeout of the caller's); curl's own next timeout also
  // bounds it. Records what is ready for drive().
  void wait(int timeout_ms);
  // Lets libcurl act on what wait() saw and on its due timeouts; calls
  // done(owner, result) for each finished transfer (it is gone by then).
  template <typename Done> void drive(Done&& done) {
    std::vector<std::pair<void*, Answer>> finished;
    act(finished);
    for (auto& [owner, result] : finished) done(owner, result);
  }

private:
  static int on_socket(void* easy, int fd, int what, void* self, void* socket_data);
  static int on_timer(void* multi, long timeout_ms, void* self);
  static int on_open_socket(void* transfer, int purpose, void* address);
  static int on_close_socket(void* self, int fd);
  void settle_sockets(Transfer* t, int kept);
  void recycle(Transfer* t);
  void remove(Transfer* t, int kept);
  static int pooled_socket(Transfer* t, int code);
  void set_shared_options(Transfer* t, const TransferOptions& options);
  void act(std::vector<std::pair<void*, Answer>>& finished);
  void finish(Transfer* t, int code, std::vector<std::pair<void*, Answer>>& finished);
  void release();

  void* m_multi = nullptr;
  std::atomic<size_t>* m_sockets;
  std::unordered_map<int, Transfer*> m_fds; // open sockets: their transfer, or null once pooled
  std::vector<Transfer*> m_spare;           // finished transfers kept for their easy handles
  static constexpr size_t kMaxSpare = 64;
  std::vector<Transfer*> m_doomed;          // their calls settled; still in the multi handle
  int m_epoll = -1;
  int m_wake_fd = -1;
  size_t m_active = 0;
  std::atomic<int64_t> m_deadline_ns{-1}; // when curl's next timeout falls due (steady clock; -1: none)
  std::vector<std::pair<int, uint32_t>> m_ready; // (fd, epoll events) from the last wait
};

// curl_global_init, once per process (any number of engines and threads).
void curl_init_once();

} // namespace brake::http
