#include "http/h1_client.h"

#include "common/clock.h"
#include "http/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace brake::http {

namespace {

constexpr size_t kMaxHead = 256 * 1024;           // a response's status line and headers
constexpr size_t kMaxLine = 4096;                 // a chunk-size or trailer line
constexpr int64_t kMaxIdleNs = 118'000'000'000;   // an idle connection's age limit (libcurl's default)
constexpr size_t kMaxIdle = 1024;                 // idle connections kept per client
constexpr size_t kMaxReserve = 16u << 20;         // a body's buffer reserved up front
constexpr int64_t kCheckIdleNs = 1'000'000;       // a connection idle longer is checked before reuse

std::string error_text(int err) { return std::strerror(err); }

// Whether the comma-separated header value `v` has the token `token`.
bool has_token(std::string_view v, std::string_view token) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    if (ascii_iequals(trim_ows(v.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return false;
}

const std::string* header(const Answer& a, std::string_view name) {
  for (const auto& [k, v] : a.headers)
    if (k == name) return &v;
  return nullptr;
}

// The request target of an absolute URL: its path and query ("/" when it
// has no path), without the fragment.
std::string_view target_of(std::string_view url) {
  size_t sep = url.find("://");
  std::string_view rest = url.substr(sep + 3);
  size_t path = rest.find_first_of("/?#");
  if (path == std::string_view::npos) return {};
  rest.remove_prefix(path);
  return rest.substr(0, rest.find('#'));
}

} // namespace

struct H1Conn {
  int fd = -1;
  std::string key;          // "host:port"
  Address peer;             // where it is connected (a request sent again goes there first)
  H1Exchange* x = nullptr;  // null: idle (or closed)
  int64_t idle_since = 0;
  bool reused = false;      // it carried a whole exchange before
};

struct H1Exchange : Transfer {
  H1Exchange() : Transfer(Client::H1) {}

  std::string host;
  uint16_t port = 0;
  std::string key;
  std::vector<Address> addrs; // where it connects, in order (empty while resolving)
  size_t addr_index = 0;       // the address being tried
  bool resolving = false;      // waiting for its host name's lookup
  H1Conn* conn = nullptr;
  bool connecting = false;
  bool has_deadline = false;
  std::multimap<int64_t, H1Exchange*>::iterator deadline;
  uint64_t connect_timeout_ms = 0;
  int64_t connect_by_ns = 0;   // the connection phase (lookup included) ends by then

  std::string out; // the request: head, then body
  size_t sent = 0;
  bool close_after = false; // the request said connection: close
  bool retried = false;     // sent again once, after a reused connection proved closed
  bool received = false;    // a byte of the response arrived on this connection
  bool reset = false;       // a failure resets the connection (an abortive close)
  ResponseReader reader;

  // Back to the start (the request is sent again).
  void restart() {
    sent = 0;
    received = false;
    reader.begin(reader.head_only, reader.max_bytes, reader.stream);
  }
};

void ResponseReader::begin(bool head, uint64_t max, bool stream_body) {
  head_only = head;
  max_bytes = max;
  stream = stream_body;
  body_bytes = 0;
  read = Read::Head;
  chunk = Chunk::Size;
  line.clear();
  left = 0;
  keep_alive = true;
  http10 = false;
  result = Answer{};
  problem.clear();
}

bool ResponseReader::take(const char* p, size_t n) {
  if (max_bytes && body_bytes + n > max_bytes) {
    problem = too_large_message(max_bytes);
    return false;
  }
  try {
    result.body.append(p, n);
    body_bytes += n;
  } catch (const std::bad_alloc&) {
    problem = "out of memory reading an HTTP response";
    return false;
  }
  return true;
}

bool ResponseReader::parse_head(std::string_view head) {
  result.headers.clear();
  result.headers.reserve(8);
  size_t eol = head.find('\n');
  std::string_view status_line = trim_ows(head.substr(0, eol));
  // "HTTP/1.x SSS reason"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11])) ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    problem = "Weird server reply: not an HTTP/1.x response";
    return false;
  }
  http10 = status_line[7] == '0';
  result.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  head.remove_prefix(eol + 1);
  while (!head.empty()) {
    eol = head.find('\n');
    std::string_view raw = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.empty()) break;
    if (!add_header_line(result.headers, raw)) {
      problem = "Weird server reply: a malformed header line";
      return false;
    }
  }
  return true;
}

int ResponseReader::feed(const char* p, size_t n, bool& extra) {
  extra = false;
  while (n > 0) {
    switch (read) {
    case Read::Head: {
      // The head ends with an empty line ("\r\n\r\n", or "\n\n" from a lax server).
      std::string_view buf;
      size_t from;
      if (line.empty()) {
        buf = std::string_view(p, n);
        from = 0;
      } else {
        from = line.size() >= 3 ? line.size() - 3 : 0;
        line.append(p, n);
        buf = line;
      }
      size_t end = std::string_view::npos;
      for (size_t i = buf.find('\n', from); i != std::string_view::npos; i = buf.find('\n', i + 1)) {
        if (i + 1 < buf.size() && buf[i + 1] == '\n') {
          end = i + 2;
          break;
        }
        if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
          end = i + 3;
          break;
        }
      }
      if (end == std::string_view::npos) {
        if (buf.size() > kMaxHead) return bad("Weird server reply: headers longer than 256 KiB");
        if (line.empty()) line.assign(p, n);
        return 0;
      }
      size_t used = end - (buf.size() - n); // of these n bytes
      if (!parse_head(buf.substr(0, end))) return -1;
      line.clear();
      p += used;
      n -= used;
      long s = result.status;
      if (s >= 100 && s < 200 && s != 101) continue; // an interim response: the real one follows
      const std::string* connection = header(result, "connection");
      keep_alive = http10 ? connection && has_token(*connection, "keep-alive") : !(connection && has_token(*connection, "close"));
      const std::string* te = header(result, "transfer-encoding");
      const std::string* cl = header(result, "content-length");
      if (head_only || s == 204 || s == 304 || s == 101) {
        if (s == 101) keep_alive = false;
        read = Read::Done;
      } else if (te) {
        std::string_view last = *te;
        size_t comma = last.rfind(',');
        if (comma != std::string_view::npos) last.remove_prefix(comma + 1);
        if (ascii_iequals(trim_ows(last), "chunked")) {
          read = Read::Chunked;
          chunk = Chunk::Size;
        } else {
          read = Read::UntilClose;
          keep_alive = false;
        }
      } else if (cl) {
        // One length, or the same one repeated ("5, 5").
        uint64_t length = 0;
        bool first = true;
        std::string_view v = *cl;
        while (true) {
          size_t comma = v.find(',');
          std::string_view one = trim_ows(v.substr(0, comma));
          if (one.empty() || one.size() > 18 || one.find_first_not_of("0123456789") != std::string_view::npos)
            return bad("Weird server reply: an invalid content-length");
          uint64_t k = std::strtoull(std::string(one).c_str(), nullptr, 10);
          if (!first && k != length) return bad("Weird server reply: conflicting content-lengths");
          length = k;
          first = false;
          if (comma == std::string_view::npos) break;
          v.remove_prefix(comma + 1);
        }
        if (max_bytes && length > max_bytes) return bad(too_large_message(max_bytes));
        left = length;
        read = length ? Read::Fixed : Read::Done;
        if (length && !streaming()) {
          try {
            result.body.reserve(std::min<uint64_t>(length, kMaxReserve));
          } catch (const std::bad_alloc&) {
          }
        }
      } else {
        read = Read::UntilClose;
        keep_alive = false;
      }
      break;
    }
    case Read::Fixed: {
      size_t k = size_t(std::min<uint64_t>(n, left));
      if (!take(p, k)) return -1;
      p += k;
      n -= k;
      left -= k;
      if (!left) read = Read::Done;
      break;
    }
    case Read::UntilClose:
      if (!take(p, n)) return -1;
      return 0;
    case Read::Chunked: {
      if (chunk == Chunk::Data) {
        size_t k = size_t(std::min<uint64_t>(n, left));
        if (!take(p, k)) return -1;
        p += k;
        n -= k;
        left -= k;
        if (!left) chunk = Chunk::DataEnd;
        break;
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      size_t k = nl ? size_t(nl - p) + 1 : n;
      if (line.size() + k > kMaxLine) return bad("Weird server reply: invalid chunked encoding");
      line.append(p, k);
      p += k;
      n -= k;
      if (!nl) return 0;
      std::string_view l = line;
      l.remove_suffix(1);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (chunk == Chunk::Size) {
        l = trim_ows(l.substr(0, l.find(';')));
        if (l.empty() || l.size() > 15 || l.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
          return bad("Weird server reply: invalid chunked encoding");
        left = std::strtoull(std::string(l).c_str(), nullptr, 16);
        chunk = left ? Chunk::Data : Chunk::Trailer;
      } else if (chunk == Chunk::DataEnd) {
        if (!l.empty()) return bad("Weird server reply: invalid chunked encoding");
        chunk = Chunk::Size;
      } else if (l.empty()) { // the end of the trailer fields (ignored)
        read = Read::Done;
      }
      line.clear();
      break;
    }
    case Read::Done:
      extra = true;
      return 1;
    }
  }
  return read == Read::Done ? 1 : 0;
}

H1Client::H1Client(int epoll, std::atomic<size_t>* sockets)
    : m_epoll(epoll), m_sockets(sockets), m_buffer(new char[kBuffer]) {}

H1Client::~H1Client() {
  for (auto& [key, conns] : m_idle)
    for (H1Conn* c : conns) close_conn(c, false);
}

bool H1Client::takes(const Request& req) {
  if (req.parsed.https) return false;
  // Credentials in the URL, or a backslash ending its authority: libcurl's.
  std::string_view url = req.url;
  std::string_view rest = url.substr(url.find("://") + 3);
  size_t end = rest.find_first_of("/?#\\");
  if (rest.substr(0, end).find('@') != std::string_view::npos) return false;
  if (end != std::string_view::npos && rest[end] == '\\') return false;
  // A proxy for http:// (libcurl reads these, and no_proxy, per request).
  if (proxy_in_environment(false)) return false;
  for (const auto& [name, value] : req.headers)
    if (ascii_iequals(name, "transfer-encoding") || ascii_iequals(name, "expect")) return false;
  return true;
}

Transfer* H1Client::start(const Request& req, const TransferOptions& options, void* owner,
                          const std::vector<Address>* resolved, std::string& error) {
  auto x = std::make_unique<H1Exchange>();
  x->owner = owner;
  x->host = req.parsed.host;
  x->port = req.parsed.port;
  x->key = x->host + ":" + std::to_string(x->port);
  x->reader.begin(req.method == "HEAD", options.max_response_bytes, options.stream_body);
  x->connect_timeout_ms = connect_timeout_ms(options);
  x->connect_by_ns = steady_now_ns() + int64_t(x->connect_timeout_ms) * 1000000;
  // The request, as libcurl would write it: Host (without the scheme's
  // default port) and Accept unless given, the script's headers, and a
  // content-length for a body (or an empty one for POST, PUT and PATCH).
  std::string_view target = target_of(req.url);
  std::string& out = x->out;
  out.reserve(128 + req.url.size() + req.body.size() + 64 * req.headers.size());
  out += req.method;
  out += ' ';
  if (target.empty() || target.front() == '?') out += '/';
  out += target;
  out += " HTTP/1.1\r\n";
  if (!has_header(req, "host")) {
    out += "Host: ";
    bool v6 = x->host.find(':') != std::string::npos;
    if (v6) out += '[';
    out += x->host;
    if (v6) out += ']';
    if (x->port != 80) {
      out += ':';
      out += std::to_string(x->port);
    }
    out += "\r\n";
  }
  if (!has_header(req, "accept")) out += "Accept: */*\r\n";
  for (const auto& [name, value] : req.headers) {
    if (ascii_iequals(name, "content-length")) continue; // the body's own
    if (ascii_iequals(name, "connection") && has_token(value, "close")) x->close_after = true;
    out += name;
    out += value.empty() ? ":" : ": ";
    out += value;
    out += "\r\n";
  }
  if (sends_body(req)) {
    out += "Content-Length: ";
    out += std::to_string(req.has_body ? req.body.size() : 0);
    out += "\r\n";
  }
  out += "\r\n";
  if (req.has_body) out += req.body;

  // Its addresses, when they are at hand (an IP literal, localhost, or a
  // name the transport has cached).
  bool addressed = literal_addresses(x->host, x->port, x->addrs);
  if (!addressed && resolved) {
    with_port(*resolved, x->port, x->addrs);
    addressed = true;
  }
  if (H1Conn* c = pooled(x->key)) {
    c->x = x.get();
    x->conn = c;
    // A name whose cached lookup expired while its connection stayed kept:
    // a request sent again goes where the connection went.
    if (!addressed) x->addrs.assign(1, c->peer);
    ssize_t n = send(c->fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      x->sent = size_t(n);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // The server closed it while it was idle: a new connection.
      close_conn(c, false);
      x->conn = nullptr;
      x->retried = true;
      if (!open(x.get(), error)) return nullptr;
    }
  } else if (addressed) {
    if (!open(x.get(), error)) return nullptr;
  } else {
    x->resolving = true; // the transport looks the name up, then resume()
  }
  m_active++;
  return x.release();
}

void H1Client::with_port(const std::vector<Address>& in, uint16_t port, std::vector<Address>& out) {
  out = in;
  for (Address& a : out) set_port(a, port);
}

bool H1Client::resolving(const Transfer* t) { return static_cast<const H1Exchange*>(t)->resolving; }

void H1Client::resume(Transfer* t, const std::vector<Address>& resolved, Finished& finished) {
  auto* x = static_cast<H1Exchange*>(t);
  x->resolving = false;
  with_port(resolved, x->port, x->addrs);
  std::string error;
  if (!open(x, error)) fail(x, std::move(error), finished);
}

void H1Client::fail_lookup(Transfer* t, std::string why, Finished& finished) {
  auto* x = static_cast<H1Exchange*>(t);
  x->resolving = false;
  fail(x, std::move(why), finished);
}

// Connects `x` to its next address (x->addr_index on); false with `error`
// when every address failed at once. A connection that completes at once
// (loopback often does) is sent on at once.
bool H1Client::open(H1Exchange* x, std::string& error, int failed_with) {
  std::string last = failed_with ? error_text(failed_with) : "no address";
  for (;; x->addr_index++) {
    if (x->addr_index >= x->addrs.size()) {
      error = "Couldn't connect to server: " + x->key + ": " + last;
      return false;
    }
    const Address& to = x->addrs[x->addr_index];
    int fd = socket(to.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = "cannot open a socket: " + error_text(errno);
      return false;
    }
    m_sockets->fetch_add(1, std::memory_order_relaxed);
    H1Conn* c;
    try {
      c = new H1Conn;
      c->key = x->key;
    } catch (const std::bad_alloc&) {
      close(fd);
      m_sockets->fetch_sub(1, std::memory_order_relaxed);
      error = "out of memory starting an HTTP request";
      return false;
    }
    c->fd = fd;
    c->peer = to;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = uint64_t(reinterpret_cast<uintptr_t>(c)) | 1;
    if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      error = "cannot watch a socket: " + error_text(errno);
      close_conn(c, false);
      return false;
    }
    c->x = x;
    x->conn = c;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to.sa), to.len) == 0) {
      x->connecting = false;
      drop_deadline(x);
      ssize_t n = send(fd, x->out.data(), x->out.size(), MSG_NOSIGNAL);
      if (n >= 0) x->sent = size_t(n);
      return true;
    }
    if (errno == EINPROGRESS) {
      x->connecting = true;
      // This attempt's share of what is left of the connection phase, so a
      // dead first address leaves time for the others (the last gets the rest).
      int64_t now = steady_now_ns();
      int64_t left = std::max<int64_t>(x->connect_by_ns - now, 0);
      int64_t attempt = left / int64_t(x->addrs.size() - x->addr_index);
      drop_deadline(x);
      try {
        x->deadline = m_connecting.emplace(now + attempt, x);
        x->has_deadline = true;
      } catch (const std::bad_alloc&) {
        error = "out of memory starting an HTTP request";
        x->conn = nullptr;
        close_conn(c, false);
        return false;
      }
      return true;
    }
    last = error_text(errno);
    x->conn = nullptr;
    close_conn(c, false);
  }
}

void H1Client::drop_deadline(H1Exchange* x) {
  if (!x->has_deadline) return;
  m_connecting.erase(x->deadline);
  x->has_deadline = false;
}

// Whether an idle connection is still open and quiet. The epoll set only
// reports a server's close while the worker waits in it (a worker without
// transfers sleeps elsewhere), so a connection idle for a while is asked
// directly: nothing to read (EAGAIN) is the only good answer; an end, an
// error or bytes nobody asked for (a 408) retire it.
bool H1Client::alive(H1Conn* c) {
  char b;
  ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

H1Conn* H1Client::pooled(const std::string& key) {
  auto it = m_idle.find(key);
  if (it == m_idle.end()) return nullptr;
  int64_t now = steady_now_ns();
  while (!it->second.empty()) {
    H1Conn* c = it->second.back();
    it->second.pop_back();
    m_idle_count--;
    if (now - c->idle_since <= kMaxIdleNs && (now - c->idle_since < kCheckIdleNs || alive(c))) return c;
    close_conn(c, false);
  }
  return nullptr;
}

void H1Client::close_conn(H1Conn* c, bool reset) {
  if (c->fd >= 0) {
    if (reset) {
      // An abortive close (RST): the server learns at once that the client
      // is gone, and no TIME_WAIT socket is left behind.
      linger abort{1, 0};
      setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    // Out of the epoll set first: close() alone leaves it there while another
    // descriptor refers to the socket (a child forked meanwhile holds copies
    // until it execs), and an event would then carry a freed connection.
    epoll_ctl(m_epoll, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    c->fd = -1;
    m_sockets->fetch_sub(1, std::memory_order_relaxed);
  }
  c->x = nullptr;
  if (m_acting) {
    try {
      m_dead.push_back(c); // its address may still be in the ready list
      return;
    } catch (const std::bad_alloc&) {
    }
  }
  delete c;
}

void H1Client::cancel(Transfer* t) {
  auto* x = static_cast<H1Exchange*>(t);
  drop_deadline(x);
  if (x->conn) close_conn(x->conn, true);
  m_active--;
  delete x;
}

void H1Client::act(const std::vector<std::pair<uint64_t, uint32_t>>& ready, Finished& finished) {
  m_acting = true;
  for (auto [data, events] : ready) on_event(reinterpret_cast<H1Conn*>(uintptr_t(data)), events, finished);
  if (!m_connecting.empty()) {
    int64_t now = steady_now_ns();
    while (!m_connecting.empty() && m_connecting.begin()->first <= now) {
      H1Exchange* x = m_connecting.begin()->second;
      drop_deadline(x);
      if (x->addr_index + 1 < x->addrs.size() && now < x->connect_by_ns) {
        // This address did not answer in its share of the time: the next one.
        close_conn(x->conn, true);
        x->conn = nullptr;
        x->addr_index++;
        std::string error;
        if (!open(x, error, ETIMEDOUT)) fail(x, std::move(error), finished);
        continue;
      }
      x->reset = true;
      fail(x, "Timeout was reached: no connection to " + x->key + " within " + std::to_string(x->connect_timeout_ms) + " ms", finished);
    }
  }
  m_acting = false;
  for (H1Conn* c : m_dead) delete c;
  m_dead.clear();
}

void H1Client::on_event(H1Conn* c, uint32_t events, Finished& finished) {
  if (c->fd < 0) return; // closed earlier in this turn
  H1Exchange* x = c->x;
  if (!x) {
    // Idle: the server closed it (or sent what nobody asked for).
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    auto& idle = m_idle[c->key];
    auto it = std::find(idle.begin(), idle.end(), c);
    if (it != idle.end()) {
      idle.erase(it);
      m_idle_count--;
    }
    close_conn(c, false);
    return;
  }
  if (x->connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      x->conn = nullptr;
      close_conn(c, false);
      x->addr_index++;
      std::string error;
      if (!open(x, error, err)) fail(x, std::move(error), finished);
      return;
    }
    x->connecting = false;
    drop_deadline(x);
  }
  if (x->sent < x->out.size()) {
    send_some(x, finished);
    if (c->x != x) return; // it ended
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) receive(x, events, finished);
}

void H1Client::send_some(H1Exchange* x, Finished& finished) {
  while (x->sent < x->out.size()) {
    ssize_t n = send(x->conn->fd, x->out.data() + x->sent, x->out.size() - x->sent, MSG_NOSIGNAL);
    if (n >= 0) {
      x->sent += size_t(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return; // EPOLLOUT comes when there is room
    int err = errno;
    if (!retry(x, finished)) fail(x, "Failed sending data to the peer: " + error_text(err), finished);
    return;
  }
}

// A request on a reused connection that the server had closed is sent
// again, once, on a new connection (as libcurl does): false when that does
// not apply.
bool H1Client::retry(H1Exchange* x, Finished& finished) {
  if (x->retried || x->received || !x->conn->reused) return false;
  x->retried = true;
  close_conn(x->conn, false);
  x->conn = nullptr;
  x->restart();
  x->addr_index = 0;
  std::string error;
  if (!open(x, error)) fail(x, std::move(error), finished);
  return true;
}

// Reads what arrived. A short read has taken everything there was (more
// comes as a new event), unless the peer's end came with it (`events`), or
// the body runs to the connection's end: then it reads on to EAGAIN or EOF.
void H1Client::receive(H1Exchange* x, uint32_t events, Finished& finished) {
  bool drain = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
  H1Conn* c = x->conn;
  char* buf = m_buffer.get();
  for (;;) {
    ssize_t n = recv(c->fd, buf, kBuffer, 0);
    if (n > 0) {
      x->received = true;
      bool extra = false;
      int r = x->reader.feed(buf, size_t(n), extra);
      if (r < 0) {
        x->reset = true;
        fail(x, std::move(x->reader.problem), finished);
        return;
      }
      if (r > 0) {
        end(x, finished, !extra && !drain && x->sent == x->out.size());
        return;
      }
      if (size_t(n) < kBuffer && !drain && !x->reader.until_close()) return part(x, finished);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return part(x, finished);
    int err = n < 0 ? errno : 0;
    if (retry(x, finished)) return;
    if (n == 0 && x->reader.until_close()) {
      end(x, finished, false);
    } else if (n == 0) {
      fail(x, x->received ? "Transferred a partial file: the server closed the connection before the response ended"
                          : "Server returned nothing (no headers, no data)",
           finished);
    } else {
      fail(x, "Failure when receiving data from the peer: " + error_text(err), finished);
    }
    return;
  }
}

// What a streamed body gained in this turn, as one part (an exchange that
// ends in the turn has it in its answer instead: one entry per turn).
void H1Client::part(H1Exchange* x, Finished& finished) {
  if (x->owner && x->reader.streaming()) add_part(finished, x->owner, x->reader.result.status, x->reader.result.body);
}

// The response is complete; the connection goes back to the pool when
// `keep` and HTTP allow.
void H1Client::end(H1Exchange* x, Finished& finished, bool keep) {
  H1Conn* c = x->conn;
  x->conn = nullptr;
  drop_deadline(x);
  if (keep && x->reader.keep_alive && !x->close_after && m_idle_count < kMaxIdle) {
    try {
      m_idle[c->key].push_back(c);
      m_idle_count++;
      c->x = nullptr;
      c->reused = true;
      c->idle_since = steady_now_ns();
    } catch (const std::bad_alloc&) {
      close_conn(c, false);
    }
  } else {
    close_conn(c, false);
  }
  if (!x->owner) {
    x->finished = true; // doomed: bury() deletes it
    return;
  }
  finished.emplace_back(x->owner, std::move(x->reader.result));
  m_active--;
  delete x;
}

void H1Client::fail(H1Exchange* x, std::string why, Finished& finished) {
  drop_deadline(x);
  if (x->conn) {
    close_conn(x->conn, x->reset);
    x->conn = nullptr;
  }
  if (!x->owner) {
    x->finished = true;
    return;
  }
  Answer a;
  a.failed = true;
  a.error = std::move(why);
  finished.emplace_back(x->owner, std::move(a));
  m_active--;
  delete x;
}

} // namespace brake::http
