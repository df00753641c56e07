// test_socket.h: the socket helpers of the suites that run a server of
// their own on 127.0.0.1 (http_native_test, http_h1_test, llm_native_test).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

// A socket listening on 127.0.0.1 (an ephemeral port, written to *addr).
inline int loopback_listener(int backlog, sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr);
  listen(fd, backlog);
  socklen_t len = sizeof *addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len);
  return fd;
}

// Writes all of `s` (or until the peer is gone).
inline void send_all(int fd, const std::string& s) {
  size_t at = 0;
  while (at < s.size()) {
    ssize_t n = send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;
    at += size_t(n);
  }
}
