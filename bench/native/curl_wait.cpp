// curl_wait: how the native transport waits, measured. brake's worker waits
// in epoll over the sockets libcurl reports through its socket interface
// (http::NativeTransport, with libcurl); the simpler loop, curl_multi_perform + curl_multi_poll,
// looks at every transfer and every socket on each turn. With `idle`
// transfers in flight that never get an answer (GET /slow), one request at a
// time goes to POST /v1/chat/completions for `ms` milliseconds; the cost of
// each turn shows as requests/s and CPU per request as `idle` grows.
//
//   curl_wait <port> <epoll|poll> <idle> <ms>
//
// The server is bench/workers/http-server-process.mjs (started by the
// scenario). Prints one JSON line. Built only with libcurl.
#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/curl_transport.h"
#include "http/native_transport.h"
#include "bench_util.h"

namespace {

const char* kBody = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}";

brake::http::Request request(const std::string& url, bool post) {
  brake::http::Request r;
  r.url = url;
  std::string why;
  brake::http::parse_url(url, r.parsed, why);
  if (post) {
    r.method = "POST";
    r.has_body = true;
    r.body = kBody;
    r.headers.emplace_back("content-type", "application/json");
  }
  return r;
}

// brake's driver: epoll over libcurl's sockets.
double run_epoll(const std::string& base, int idle, int ms, long* done) {
  std::atomic<size_t> sockets{0};
  brake::http::NativeTransport driver(&sockets);
  brake::http::TransferOptions options;
  options.libcurl_only = true; // what is measured is the wait over libcurl's sockets
  std::string error;
  int idle_owner = 0, chat_owner = 0;
  for (int i = 0; i < idle; i++) driver.start(request(base + "/slow?id=" + std::to_string(1000000 + i), false), options, &idle_owner, error);
  brake::http::Request chat = request(base + "/v1/chat/completions", true);
  bool busy = false;
  uint64_t end = 0;
  uint64_t cpu0 = 0;
  for (;;) {
    if (!busy) {
      if (end && bench_now_ns() >= end) break;
      driver.start(chat, options, &chat_owner, error);
      busy = true;
    }
    driver.wait(10);
    driver.drive([&](void* owner, brake::http::Answer&) {
      if (owner != &chat_owner) return;
      busy = false;
      if (!end) { // the first answer: the idle transfers are connected by now
        end = bench_now_ns() + uint64_t(ms) * 1000000;
        cpu0 = bench_cpu_ns();
        *done = 0;
      } else {
        (*done)++;
      }
    });
  }
  return double(bench_cpu_ns() - cpu0);
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

CURL* easy(const std::string& url, bool post) {
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  if (post) {
    static curl_slist* headers = curl_slist_append(nullptr, "content-type: application/json");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, kBody);
  }
  return e;
}

// curl_multi_perform + curl_multi_poll.
double run_poll(const std::string& base, int idle, int ms, long* done) {
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> idles;
  for (int i = 0; i < idle; i++) {
    idles.push_back(easy(base + "/slow?id=" + std::to_string(2000000 + i), false));
    curl_multi_add_handle(multi, idles.back());
  }
  CURL* chat = easy(base + "/v1/chat/completions", true);
  bool busy = false;
  uint64_t end = 0;
  uint64_t cpu0 = 0;
  int running = 0;
  for (;;) {
    if (!busy) {
      if (end && bench_now_ns() >= end) break;
      curl_multi_add_handle(multi, chat);
      busy = true;
    }
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE || m->easy_handle != chat) continue;
      curl_multi_remove_handle(multi, chat);
      busy = false;
      if (!end) {
        end = bench_now_ns() + uint64_t(ms) * 1000000;
        cpu0 = bench_cpu_ns();
        *done = 0;
      } else {
        (*done)++;
      }
    }
    if (busy) curl_multi_poll(multi, nullptr, 0, 10, nullptr);
  }
  double cpu = double(bench_cpu_ns() - cpu0);
  for (CURL* e : idles) {
    curl_multi_remove_handle(multi, e);
    curl_easy_cleanup(e);
  }
  curl_easy_cleanup(chat);
  curl_multi_cleanup(multi);
  return cpu;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: curl_wait <port> <epoll|poll> <idle> <ms>\n");
    return 2;
  }
  std::string base = std::string("http://127.0.0.1:") + argv[1];
  std::string mode = argv[2];
  int idle = atoi(argv[3]), ms = atoi(argv[4]);
  brake::http::curl_init_once();
  long done = 0;
  double cpu_ns = mode == "poll" ? run_poll(base, idle, ms, &done) : run_epoll(base, idle, ms, &done);
  if (done <= 0) {
    fprintf(stderr, "no request finished\n");
    return 1;
  }
  printf("{\"requestsPerSec\":%.1f,\"cpuUsPerRequest\":%.2f}\n", double(done) * 1000.0 / ms, cpu_ns / 1000.0 / double(done));
  return 0;
}
