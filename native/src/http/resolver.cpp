#include "http/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/clock.h"

namespace brake::http {

namespace {

constexpr int64_t kCacheNs = 60'000'000'000; // libcurl's default DNS cache timeout
constexpr size_t kMaxCached = 1024;

} // namespace

void set_port(Address& a, uint16_t port) {
  if (a.sa.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&a.sa)->sin_port = htons(port);
  else reinterpret_cast<sockaddr_in6*>(&a.sa)->sin6_port = htons(port);
}

bool literal_host(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return host == "localhost" || inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool literal_addresses(const std::string& host, uint16_t port, std::vector<Address>& out) {
  auto add = [&](int family, const char* text) {
    Address a;
    std::memset(&a.sa, 0, sizeof a.sa);
    if (family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&a.sa);
      if (inet_pton(AF_INET, text, &v4->sin_addr) != 1) return false;
      v4->sin_family = AF_INET;
      a.len = sizeof *v4;
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.sa);
      if (inet_pton(AF_INET6, text, &v6->sin6_addr) != 1) return false;
      v6->sin6_family = AF_INET6;
      a.len = sizeof *v6;
    }
    set_port(a, port);
    out.push_back(a);
    return true;
  };
  out.clear();
  if (host == "localhost") return add(AF_INET, "127.0.0.1") && add(AF_INET6, "::1");
  return add(AF_INET, host.c_str()) || add(AF_INET6, host.c_str());
}

struct Resolver::Mailbox {
  std::mutex mu;
  bool closed = false;
  int fd = -1;
  std::vector<Answer> answers;
  ~Mailbox() {
    if (fd >= 0) close(fd);
  }
};

Resolver::Resolver() : m_mailbox(std::make_shared<Mailbox>()) {
  m_mailbox->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m_mailbox->fd < 0) throw std::runtime_error("cannot set up the HTTP transport's resolver (eventfd)");
}

Resolver::~Resolver() {
  std::lock_guard<std::mutex> lock(m_mailbox->mu);
  m_mailbox->closed = true; // a lookup still running drops its answer
}

int Resolver::fd() const { return m_mailbox->fd; }

const std::vector<Address>* Resolver::cached(const std::string& host) {
  auto it = m_cache.find(host);
  if (it == m_cache.end()) return nullptr;
  if (steady_now_ns() > it->second.expires_ns) {
    m_cache.erase(it);
    return nullptr;
  }
  return &it->second.addresses;
}

bool Resolver::lookup(const std::string& host, std::string& error) {
  if (std::find(m_in_flight.begin(), m_in_flight.end(), host) != m_in_flight.end()) return true;
  if (std::find(m_queued.begin(), m_queued.end(), host) != m_queued.end()) return true;
  if (m_in_flight.size() >= kMaxThreads) {
    try {
      m_queued.push_back(host);
    } catch (const std::bad_alloc&) {
      error = "out of memory looking the host name up";
      return false;
    }
    return true;
  }
  return launch(host, error);
}

bool Resolver::launch(const std::string& host, std::string& error) {
  try {
    m_in_flight.push_back(host);
    std::thread([mailbox = m_mailbox, host] {
      Answer a;
      a.host = host;
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_ADDRCONFIG;
      addrinfo* found = nullptr;
      int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
      if (rc != 0) {
        a.error = gai_strerror(rc);
      } else {
        // IPv4 first, then IPv6, each in the resolver's order: a host whose
        // IPv6 route is missing still connects at once.
        for (int family : {AF_INET, AF_INET6})
          for (addrinfo* p = found; p; p = p->ai_next) {
            if (p->ai_family != family || p->ai_addrlen > sizeof(sockaddr_storage)) continue;
            Address addr;
            std::memset(&addr.sa, 0, sizeof addr.sa);
            std::memcpy(&addr.sa, p->ai_addr, p->ai_addrlen);
            addr.len = socklen_t(p->ai_addrlen);
            a.addresses.push_back(addr);
          }
        freeaddrinfo(found);
        if (a.addresses.empty()) a.error = "no IPv4 or IPv6 address";
      }
      std::lock_guard<std::mutex> lock(mailbox->mu);
      if (mailbox->closed) return;
      mailbox->answers.push_back(std::move(a));
      uint64_t one = 1;
      ssize_t ignored = write(mailbox->fd, &one, sizeof one);
      (void)ignored;
    }).detach();
  } catch (const std::exception& e) { // std::system_error (no thread) or std::bad_alloc
    if (!m_in_flight.empty() && m_in_flight.back() == host) m_in_flight.pop_back();
    error = std::string("cannot look the host name up: ") + e.what();
    return false;
  }
  return true;
}

std::vector<Resolver::Answer> Resolver::take() {
  std::vector<Answer> answers;
  {
    std::lock_guard<std::mutex> lock(m_mailbox->mu);
    answers.swap(m_mailbox->answers);
    uint64_t count;
    while (read(m_mailbox->fd, &count, sizeof count) > 0) {
    }
  }
  int64_t now = steady_now_ns();
  for (const Answer& a : answers) {
    m_in_flight.erase(std::remove(m_in_flight.begin(), m_in_flight.end(), a.host), m_in_flight.end());
    if (a.addresses.empty()) continue;
    if (m_cache.size() >= kMaxCached) m_cache.clear();
    m_cache[a.host] = Entry{a.addresses, now + kCacheNs};
  }
  // Names that waited for a thread. One that cannot start now answers as a
  // failed lookup (its waiters fail with the reason).
  while (!m_queued.empty() && m_in_flight.size() < kMaxThreads) {
    std::string host = std::move(m_queued.front());
    m_queued.erase(m_queued.begin());
    std::string error;
    if (!launch(host, error)) answers.push_back(Answer{host, {}, error});
  }
  return answers;
}

} // namespace brake::http
