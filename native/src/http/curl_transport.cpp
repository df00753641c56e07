#include "http/curl_transport.h"

#include "common/clock.h"
#include "http/resolver.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <cassert>
#include <climits>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace brake::http {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

struct CurlTransfer : Transfer {
  CurlTransfer() : Transfer(Client::Curl) {}
  CURL* easy = nullptr;
  CurlDriver* driver = nullptr;
  std::vector<int> sockets; // every socket opened for it (see on_open_socket)
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr; // CURLOPT_RESOLVE: the addresses the transport looked up
  std::string host;
  uint16_t port = 0;
  bool waiting = false; // for the transport's lookup, off the multi handle
  Answer result;
  uint64_t max_bytes = 0;
  uint64_t body_bytes = 0; // parts taken out included
  bool too_large = false;
  bool stream = false;     // TransferOptions::stream_body
  bool parted = false;     // listed in the driver's m_parts this turn
  long status = 0;         // a streamed body's status, once read
  int kept = -1; // finished while doomed: its connection's socket, back in the pool

  ~CurlTransfer() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
  }

  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<CurlTransfer*>(self);
    size_t bytes = size * n;
    if (t->max_bytes && t->body_bytes + bytes > t->max_bytes) {
      t->too_large = true;
      return 0; // aborts the transfer (CURLE_WRITE_ERROR)
    }
    try {
      t->result.body.append(data, bytes);
      t->body_bytes += bytes;
      if (t->stream && !t->parted) { // a 2xx body goes out in parts (CurlDriver::act)
        if (!t->status) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
        if (t->status >= 200 && t->status < 300) {
          t->driver->m_parts.push_back(t);
          t->parted = true;
        }
      }
    } catch (const std::bad_alloc&) {
      return 0;
    }
    return bytes;
  }

  // Header lines of every response (a 100 Continue, then the real one): a
  // status line starts them afresh.
  static size_t on_header(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<CurlTransfer*>(self);
    size_t bytes = size * n;
    std::string_view line(data, bytes);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    try {
      if (line.rfind("HTTP/", 0) == 0) t->result.headers.clear();
      else add_header_line(t->result.headers, line); // (a line that is no header is skipped)
    } catch (const std::bad_alloc&) {
      return 0;
    }
    return bytes;
  }
};

CurlDriver::CurlDriver(int epoll, std::atomic<size_t>* sockets) : m_epoll(epoll), m_sockets(sockets) {
  curl_init_once();
  m_multi = curl_multi_init();
  if (!m_multi) throw std::runtime_error("cannot set up the HTTP transport (libcurl)");
  CURLM* multi = static_cast<CURLM*>(m_multi);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &CurlDriver::on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &CurlDriver::on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
}

CurlDriver::~CurlDriver() { release(); }

void CurlDriver::release() {
  for (CurlTransfer* t : m_spare) delete t;
  m_spare.clear();
  if (m_multi) curl_multi_cleanup(static_cast<CURLM*>(m_multi));
  m_multi = nullptr;
}

int CurlDriver::on_socket(void* easy, int fd, int what, void* self, void*) {
  auto* d = static_cast<CurlDriver*>(self);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(d->m_epoll, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  // A pooled connection taken up by a transfer is that transfer's now (its
  // cancel resets it; settle_sockets hands it back to the pool).
  auto it = d->m_fds.find(fd);
  if (it != d->m_fds.end() && !it->second && easy) {
    CurlTransfer* t = nullptr;
    curl_easy_getinfo(static_cast<CURL*>(easy), CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (t && t->owner) {
      try {
        t->sockets.push_back(fd);
        it->second = t;
      } catch (const std::bad_alloc&) {
      }
    }
  }
  epoll_event ev{};
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.u64 = uint64_t(fd) << 1;
  if (epoll_ctl(d->m_epoll, EPOLL_CTL_MOD, fd, &ev) != 0) epoll_ctl(d->m_epoll, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

// Socket accounting. Every socket libcurl opens comes from on_open_socket.
// Those of a connection that got connected come back through
// on_close_socket (libcurl keeps that callback with the connection, so an
// idle pooled one closed later is seen too). libcurl 7.88 up to 8.1 closes
// a socket that never finished connecting (cancelled, refused, or a
// happy-eyeballs loser) without the callback (curl PR #11439), so when a
// transfer ends, each socket it opened that is not its connected one is
// known to be closed and leaves the count then; and a descriptor number
// handed out again means its previous socket was closed already.
int CurlDriver::on_open_socket(void* transfer, int, void* address) {
  auto* t = static_cast<CurlTransfer*>(transfer);
  auto* a = static_cast<curl_sockaddr*>(address);
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0) return int(CURL_SOCKET_BAD);
  CurlDriver* d = t->driver;
  try {
    t->sockets.push_back(fd);
    auto [it, added] = d->m_fds.try_emplace(fd, t);
    if (!added) it->second = t; // its previous socket was closed silently: counted once
    else d->m_sockets->fetch_add(1, std::memory_order_relaxed);
  } catch (const std::bad_alloc&) {
    close(fd);
    return int(CURL_SOCKET_BAD);
  }
  return fd;
}

int CurlDriver::on_close_socket(void* self, int fd) {
  auto* d = static_cast<CurlDriver*>(self);
  if (d->m_fds.erase(fd)) d->m_sockets->fetch_sub(1, std::memory_order_relaxed);
  return close(fd);
}

// After `t` left the multi handle: its sockets are closed, except `kept`
// (its connection, now idle in the pool), which no longer belongs to it.
void CurlDriver::settle_sockets(CurlTransfer* t, int kept) {
  for (int fd : t->sockets) {
    auto it = m_fds.find(fd);
    if (it == m_fds.end() || it->second != t) continue;
    if (fd == kept) {
      it->second = nullptr;
    } else {
      m_fds.erase(it);
      m_sockets->fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

int CurlDriver::on_timer(void*, long timeout_ms, void* self) {
  static_cast<CurlDriver*>(self)->m_deadline_ns.store(timeout_ms < 0 ? -1 : steady_now_ns() + int64_t(timeout_ms) * 1000000,
                                                      std::memory_order_relaxed);
  return 0;
}

// The options that are the same for every request of this driver (one
// engine's worker), set once per easy handle.
void CurlDriver::set_shared_options(CurlTransfer* t, const TransferOptions& options) {
  CURL* e = t->easy;
  t->driver = this;
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlTransfer::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlTransfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlDriver::on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlDriver::on_close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  if (options.ca_pem && !options.ca_pem->empty()) {
    curl_blob blob{const_cast<char*>(options.ca_pem->data()), options.ca_pem->size(), CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  }
}

Transfer* CurlDriver::start(const Request& req, const TransferOptions& options, void* owner,
                            const std::vector<Address>* resolved, bool wait_for_lookup, std::string& error) {
  // A spare transfer keeps its easy handle with the options every request
  // shares (and the buffers libcurl gave it): libcurl recommends reusing
  // handles, and curl_easy_init or _reset per request costs more than the
  // rest of the setup together.
  std::unique_ptr<CurlTransfer> t;
  if (!m_spare.empty()) {
    t.reset(m_spare.back());
    m_spare.pop_back();
  } else {
    t = std::make_unique<CurlTransfer>();
    t->easy = curl_easy_init();
    if (!t->easy) {
      error = "cannot start an HTTP transfer (libcurl)";
      return nullptr;
    }
    set_shared_options(t.get(), options);
  }
  CURL* e = t->easy;
  t->owner = owner;
  t->max_bytes = options.max_response_bytes;
  t->stream = options.stream_body;
  // Everything a previous request on this handle may have set, every time.
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 0L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(options.timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(options.connect_timeout_ms));
  curl_easy_setopt(e, CURLOPT_NOBODY, req.method == "HEAD" ? 1L : 0L);
  if (req.method != "HEAD") curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); // back to a plain GET, no body
  bool custom = req.method != "HEAD" && (req.method != "GET" || req.has_body);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom ? req.method.c_str() : nullptr);
  if (req.has_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req.body.c_str());
  } else if (sends_body(req)) {
    // An empty body, so a content-length of 0 is sent (as the own client does).
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(0));
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, "");
  }
  // No "Expect: 100-continue" wait before a larger body, and no
  // content-type the script did not give (libcurl's default for a body is
  // form-encoded): the same request as the own client's (h1_client.cpp).
  t->headers = curl_slist_append(t->headers, "Expect:");
  if (sends_body(req) && !has_header(req, "content-type"))
    t->headers = curl_slist_append(t->headers, "Content-Type:");
  for (const auto& [name, value] : req.headers) {
    std::string line = name + (value.empty() ? ";" : ": " + value);
    curl_slist* more = curl_slist_append(t->headers, line.c_str());
    if (!more) {
      error = "out of memory starting an HTTP transfer";
      return nullptr;
    }
    t->headers = more;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  t->host = req.parsed.host;
  t->port = req.parsed.port;
  if (resolved && !set_resolved(t.get(), *resolved)) {
    error = "out of memory starting an HTTP transfer";
    return nullptr;
  }
  if (wait_for_lookup) {
    t->waiting = true;
  } else if (!add(t.get(), error)) {
    return nullptr;
  }
  m_active++;
  return t.release();
}

// CURLOPT_RESOLVE "host:port:addr,addr": libcurl takes these addresses
// instead of looking the name up.
bool CurlDriver::set_resolved(CurlTransfer* t, const std::vector<Address>& resolved) {
  std::string entry = t->host + ":" + std::to_string(t->port) + ":";
  for (size_t i = 0; i < resolved.size(); i++) {
    char text[INET6_ADDRSTRLEN] = "";
    const sockaddr_storage& sa = resolved[i].sa;
    if (sa.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr, text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_addr, text, sizeof text);
    }
    if (i) entry += ',';
    entry += sa.ss_family == AF_INET6 ? "[" + std::string(text) + "]" : std::string(text);
  }
  curl_slist* list = curl_slist_append(nullptr, entry.c_str());
  if (!list) return false;
  curl_slist_free_all(t->resolve);
  t->resolve = list;
  curl_easy_setopt(t->easy, CURLOPT_RESOLVE, list);
  return true;
}

bool CurlDriver::add(CurlTransfer* t, std::string& error) {
  CURLMcode rc = curl_multi_add_handle(static_cast<CURLM*>(m_multi), t->easy);
  if (rc != CURLM_OK) {
    error = std::string("cannot start an HTTP transfer: ") + curl_multi_strerror(rc);
    return false;
  }
  return true;
}

void CurlDriver::launch(Transfer* base, const std::vector<Address>& resolved, uint64_t connect_ms, Finished& finished) {
  auto* t = static_cast<CurlTransfer*>(base);
  t->waiting = false;
  curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, long(std::min<uint64_t>(connect_ms, LONG_MAX)));
  std::string error;
  if (!set_resolved(t, resolved)) error = "out of memory starting an HTTP transfer";
  if (error.empty() && add(t, error)) return;
  t->waiting = true; // (not in the multi handle)
  fail_lookup(t, std::move(error), finished);
}

void CurlDriver::fail_lookup(Transfer* base, std::string why, Finished& finished) {
  auto* t = static_cast<CurlTransfer*>(base);
  if (t->owner) {
    Answer a;
    a.failed = true;
    a.error = std::move(why);
    finished.emplace_back(t->owner, std::move(a));
  }
  t->finished = true;
  if (!t->owner) return; // doomed: the transport's bury() cancels it
  m_active--;
  recycle(t);
}

void CurlDriver::cancel(Transfer* base) {
  auto* t = static_cast<CurlTransfer*>(base);
  if (t->waiting) { // never in the multi handle: nothing was sent
    m_active--;
    recycle(t);
    return;
  }
  if (!t->finished) { // (doomed as it finished: its connection is in the pool already)
    // Its connection is not kept for another transfer (one cut off in its
    // TLS handshake would otherwise stay open in the cache): removing the
    // handle closes it now. An abortive close (RST): the server learns at
    // once that the client is gone, and no TIME_WAIT socket is left behind
    // per cancel (thousands of cancels a minute would otherwise use up the
    // ephemeral ports to a host). Its sockets are those it opened or took
    // from the pool (see on_socket).
    curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L);
    for (int fd : t->sockets) {
      auto it = m_fds.find(fd);
      if (it == m_fds.end() || it->second != t) continue;
      linger abort{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
  }
  remove(t, t->kept);
}

// Takes `t` out of the multi handle; its sockets are then closed except
// `kept` (its connection, idle in the pool), and it becomes a spare.
void CurlDriver::remove(CurlTransfer* t, int kept) {
  curl_multi_remove_handle(static_cast<CURLM*>(m_multi), t->easy);
  settle_sockets(t, kept);
  m_active--;
  recycle(t);
}

// A finished or cancelled transfer (out of the multi handle) becomes a spare.
// (Never one listed in m_parts: that list lives within one act(), which
// takes finished transfers out of it.)
void CurlDriver::recycle(CurlTransfer* t) {
  assert(!t->parted);
  if (m_spare.size() < kMaxSpare) {
    try {
      m_spare.reserve(kMaxSpare);
      curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, nullptr);
      curl_slist_free_all(t->headers);
      t->headers = nullptr;
      curl_easy_setopt(t->easy, CURLOPT_RESOLVE, nullptr);
      curl_slist_free_all(t->resolve);
      t->resolve = nullptr;
      t->waiting = false;
      t->owner = nullptr;
      t->result = Answer{};
      t->max_bytes = t->body_bytes = 0;
      t->too_large = t->finished = t->stream = t->parted = false;
      t->status = 0;
      t->kept = -1;
      t->sockets.clear();
      curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, nullptr); // frees its copy of the last body
      m_spare.push_back(t);
      return;
    } catch (const std::bad_alloc&) {
    }
  }
  delete t;
}

void CurlDriver::act(const std::vector<std::pair<int, uint32_t>>& ready, Finished& finished) {
  CURLM* multi = static_cast<CURLM*>(m_multi);
  int running = 0;
  for (auto [fd, ev] : ready) {
    int mask = (ev & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (ev & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(multi, fd, mask, &running);
  }
  // curl's own timeout (the timer callback gives it as a delay from then).
  int64_t deadline = m_deadline_ns.load(std::memory_order_relaxed);
  if (deadline >= 0 && steady_now_ns() >= deadline) {
    m_deadline_ns.store(-1, std::memory_order_relaxed);
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CurlTransfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (t->parted) { // its answer carries what it streamed this turn: one entry per turn
      m_parts.erase(std::find(m_parts.begin(), m_parts.end(), t));
      t->parted = false;
    }
    if (!t->owner) { // doomed: bury() removes it, leaving its connection in the pool
      t->finished = true;
      t->kept = pooled_socket(t, int(msg->data.result));
      continue;
    }
    finish(t, int(msg->data.result), finished);
  }
  // What the streamed bodies still going gained in this turn.
  for (CurlTransfer* t : m_parts) {
    t->parted = false;
    if (t->owner) add_part(finished, t->owner, t->status, t->result.body);
  }
  m_parts.clear();
}

void CurlDriver::finish(CurlTransfer* t, int code, Finished& finished) {
  Answer& r = t->result;
  if (code != CURLE_OK) {
    r.failed = true;
    r.error = t->too_large ? too_large_message(t->max_bytes) : curl_easy_strerror(CURLcode(code));
  } else {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
    char* url = nullptr;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    if (url) r.url = url;
  }
  finished.emplace_back(t->owner, std::move(r));
  remove(t, pooled_socket(t, code));
}

// The socket a transfer that ended with `code` left in the pool (-1: none).
int CurlDriver::pooled_socket(CurlTransfer* t, int code) {
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (code == CURLE_OK) curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &fd);
  return fd == CURL_SOCKET_BAD ? -1 : int(fd);
}

} // namespace brake::http
