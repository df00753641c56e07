#include "http/native_transport.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "common/clock.h"
#include "http/curl_transport.h"
#include "http/h1_client.h"
#include "http/resolver.h"

namespace brake::http {

NativeTransport::NativeTransport(std::atomic<size_t>* sockets) : m_sockets(sockets) {
  m_epoll = epoll_create1(EPOLL_CLOEXEC);
  m_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m_epoll < 0 || m_wake_fd < 0) {
    release();
    throw std::runtime_error("cannot set up the HTTP transport (epoll or eventfd)");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = uint64_t(m_wake_fd) << 1;
  epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake_fd, &ev);
}

NativeTransport::~NativeTransport() { release(); }

void NativeTransport::release() {
  bury();
  m_waiting.clear();
  m_resolver.reset(); // a lookup still running drops its answer
  m_h1.reset();
  m_curl.reset();
  if (m_wake_fd >= 0) close(m_wake_fd);
  if (m_epoll >= 0) close(m_epoll);
  m_wake_fd = m_epoll = -1;
}

Transfer* NativeTransport::start(const Request& req, const TransferOptions& options, void* owner, std::string& error) {
  Transfer* t = nullptr;
  try {
    m_doomed.reserve(m_active + 1); // doom() cannot fail
    const std::string& host = req.parsed.host;
    bool h1 = !options.libcurl_only && H1Client::takes(req);
    // A host name is looked up here (not by libcurl, whose lookup a cancel
    // would wait for), unless libcurl goes through a proxy (and resolves
    // the proxy's name).
    bool named = !literal_host(host) && (h1 || !proxy_in_environment(req.parsed.https));
    const std::vector<Address>* cached = nullptr;
    if (named) {
      if (!m_resolver) {
        auto resolver = std::make_unique<Resolver>();
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = uint64_t(resolver->fd()) << 1;
        if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, resolver->fd(), &ev) != 0)
          throw std::runtime_error("cannot set up the HTTP transport's resolver (epoll)");
        m_resolver = std::move(resolver);
      }
      cached = m_resolver->cached(host);
      if (!cached) { // a lookup may follow: room to wait for it, so nothing can fail once started
        auto& waiting = m_waiting[host];
        waiting.reserve(waiting.size() + 1);
      }
    }
    bool lookup = false;
    if (h1) {
      if (!m_h1) m_h1 = std::make_unique<H1Client>(m_epoll, m_sockets);
      t = m_h1->start(req, options, owner, cached, error);
      lookup = t && H1Client::resolving(t);
    } else {
      if (!m_curl) m_curl = std::make_unique<CurlDriver>(m_epoll, m_sockets);
      lookup = named && !cached;
      t = m_curl->start(req, options, owner, cached, lookup, error);
    }
    if (t && lookup) {
      if (!m_resolver->lookup(host, error)) {
        cancel_in_client(t);
        return nullptr;
      }
      // The lookup counts against the connection phase, as libcurl's does.
      uint64_t ms = connect_timeout_ms(options);
      m_waiting[host].push_back(Waiter{t, steady_now_ns() + int64_t(ms) * 1000000, ms});
    }
  } catch (const std::bad_alloc&) {
    error = "out of memory starting an HTTP request";
    return nullptr;
  } catch (const std::runtime_error& e) {
    error = e.what();
    return nullptr;
  }
  if (t) m_active++;
  return t;
}

void NativeTransport::doom(Transfer* t) {
  m_doomed.push_back(t); // capacity reserved in start()
  t->owner = nullptr;
}

size_t NativeTransport::bury() {
  size_t n = m_doomed.size();
  for (size_t i = 0; i < n; i++) cancel(m_doomed[i]);
  m_doomed.clear();
  return n;
}

void NativeTransport::cancel(Transfer* t) {
  m_active--;
  for (auto& [host, waiting] : m_waiting) { // still waiting for a lookup: it stops waiting
    auto it = std::find_if(waiting.begin(), waiting.end(), [t](const Waiter& w) { return w.t == t; });
    if (it != waiting.end()) {
      waiting.erase(it);
      break;
    }
  }
  cancel_in_client(t);
}

void NativeTransport::cancel_in_client(Transfer* t) {
  if (t->client == Transfer::Client::H1) m_h1->cancel(t);
  else m_curl->cancel(t);
}

void NativeTransport::wait(int timeout_ms) {
  int64_t deadline = -1;
  for (int64_t d : {m_curl ? m_curl->deadline_ns() : -1, m_h1 ? m_h1->deadline_ns() : -1})
    if (d >= 0 && (deadline < 0 || d < deadline)) deadline = d;
  for (const auto& [host, waiting] : m_waiting)
    for (const Waiter& w : waiting)
      if (deadline < 0 || w.deadline_ns < deadline) deadline = w.deadline_ns;
  int ms = timeout_ms;
  if (deadline >= 0) {
    int64_t left = deadline - steady_now_ns();
    int due = left <= 0 ? 0 : int(std::min<int64_t>((left + 999999) / 1000000, 1 << 30));
    if (ms < 0 || due < ms) ms = due;
  }
  epoll_event events[256];
  int n = epoll_wait(m_epoll, events, 256, ms);
  m_curl_ready.clear();
  m_h1_ready.clear();
  for (int i = 0; i < n; i++) {
    uint64_t data = events[i].data.u64;
    uint32_t what = events[i].events;
    if (data & 1) {
      m_h1_ready.emplace_back(data & ~uint64_t(1), what);
    } else if (int(data >> 1) == m_wake_fd) {
      uint64_t count;
      while (read(m_wake_fd, &count, sizeof count) > 0) {
      }
    } else if (m_resolver && int(data >> 1) == m_resolver->fd()) {
      m_lookups_ready = true;
    } else {
      m_curl_ready.emplace_back(int(data >> 1), what);
    }
  }
}

void NativeTransport::act(Finished& finished) {
  size_t before = finished.size();
  if (m_h1) m_h1->act(m_h1_ready, finished);
  if (m_curl) m_curl->act(m_curl_ready, finished);
  m_h1_ready.clear();
  m_curl_ready.clear();
  if (m_lookups_ready) answer_lookups(finished);
  if (!m_waiting.empty()) expire_lookups(finished);
  for (size_t i = before; i < finished.size(); i++)
    if (!finished[i].second.more) m_active--;
}

// Transfers whose connection phase passed while their lookup was still
// out fail with a timeout (the lookup's answer, if it comes, finds no one).
void NativeTransport::expire_lookups(Finished& finished) {
  int64_t now = steady_now_ns();
  for (auto it = m_waiting.begin(); it != m_waiting.end();) {
    auto& waiting = it->second;
    for (size_t i = 0; i < waiting.size();) {
      Waiter w = waiting[i];
      if (w.deadline_ns > now || !w.t->owner) {
        i++;
        continue;
      }
      waiting.erase(waiting.begin() + ptrdiff_t(i));
      fail_lookup(w.t, "Timeout was reached: no address for " + it->first + " within " + std::to_string(w.timeout_ms) + " ms",
                  finished);
    }
    it = waiting.empty() ? m_waiting.erase(it) : std::next(it);
  }
}

void NativeTransport::fail_lookup(Transfer* t, std::string why, Finished& finished) {
  if (t->client == Transfer::Client::H1) m_h1->fail_lookup(t, std::move(why), finished);
  else m_curl->fail_lookup(t, std::move(why), finished);
}

// Each answered lookup starts (or fails) the transfers waiting for it;
// cancelled ones (doomed) are left to bury().
void NativeTransport::answer_lookups(Finished& finished) {
  m_lookups_ready = false;
  for (Resolver::Answer& a : m_resolver->take()) {
    auto it = m_waiting.find(a.host);
    if (it == m_waiting.end()) continue;
    std::vector<Waiter> waiting = std::move(it->second);
    m_waiting.erase(it);
    int64_t now = steady_now_ns();
    for (const Waiter& w : waiting) {
      Transfer* t = w.t;
      if (!t->owner) continue;
      if (a.addresses.empty()) {
        fail_lookup(t, "Couldn't resolve host name: " + a.host + ": " + a.error, finished);
      } else if (t->client == Transfer::Client::H1) {
        m_h1->resume(t, a.addresses, finished); // (its connection phase began at start())
      } else {
        // What is left of the connection phase, for libcurl's connect.
        uint64_t left = w.deadline_ns > now ? uint64_t((w.deadline_ns - now + 999999) / 1000000) : 1;
        m_curl->launch(t, a.addresses, left, finished);
      }
    }
  }
}

} // namespace brake::http
