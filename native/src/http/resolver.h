// resolver.h: host-name lookups for the native transport, off the worker
// and abandonable. getaddrinfo blocks and cannot be interrupted, and
// libcurl 7.88 joins its own resolver thread when a transfer is removed
// mid-lookup, so a cancel during a slow DNS lookup would hold the worker
// (and every call on it, and engine close) until the lookup gave up. Here
// each lookup runs on a detached thread of its own, which posts its answer to
// a mailbox the transport watches (an eventfd in its epoll set); a transfer
// that is cancelled meanwhile just stops waiting, and once the transport is
// gone a late answer is dropped. Answers are cached for 60 s (libcurl's
// default), so kept-alive traffic to a host looks it up once a minute.
//
// Threads: the transport's worker, except the lookup threads, which touch
// only their shared mailbox.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace brake::http {

struct Address {
  sockaddr_storage sa;
  socklen_t len = 0;
};

// Sets the port of an address.
void set_port(Address& a, uint16_t port);

// Whether `host` is an IP literal or localhost (needs no lookup).
bool literal_host(const std::string& host);

// The addresses of an IP literal or of localhost (its IPv4 loopback, then
// its IPv6 one) with `port`; false for a name that needs a lookup.
bool literal_addresses(const std::string& host, uint16_t port, std::vector<Address>& out);

class Resolver {
public:
  struct Mailbox;
  struct Answer {
    std::string host;
    std::vector<Address> addresses; // port 0; empty on failure
    std::string error;
  };

  // Throws std::runtime_error when its eventfd cannot be made.
  Resolver();
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The eventfd written when answers arrive (for the transport's epoll set).
  int fd() const;
  // Fresh cached addresses of `host` (port 0), or null.
  const std::vector<Address>* cached(const std::string& host);
  // Starts looking `host` up unless a lookup of it is under way; false
  // with `error` when no thread can be started.
  bool lookup(const std::string& host, std::string& error);
  // The answers that arrived (each also cached when it has addresses).
  std::vector<Answer> take();

private:
  bool launch(const std::string& host, std::string& error);

  // At most this many lookup threads at once; more names wait their turn.
  static constexpr size_t kMaxThreads = 32;
  std::shared_ptr<Mailbox> m_mailbox;
  std::vector<std::string> m_queued;
  struct Entry {
    std::vector<Address> addresses;
    int64_t expires_ns = 0;
  };
  std::unordered_map<std::string, Entry> m_cache;
  std::vector<std::string> m_in_flight;
};

} // namespace brake::http
