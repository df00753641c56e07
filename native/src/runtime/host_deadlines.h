// host_deadlines.h: the deadlines of the engine's host-side helpers that run
// on the caller's thread (render_prompt, parse): one watchdog thread per
// engine, started at the first deadline, sets a waiting helper's cancel word
// when its time passes. (A thread per helper call cost more than a parse.)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "brake.h"

namespace brake::runtime {

class HostDeadlines {
public:
  using Clock = std::chrono::steady_clock;
  HostDeadlines() = default;
  HostDeadlines(const HostDeadlines&) = delete;
  HostDeadlines& operator=(const HostDeadlines&) = delete;
  ~HostDeadlines() {
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_stop = true;
    }
    m_cv.notify_one();
    if (m_thread.joinable()) m_thread.join();
  }

  // Sets *word to BRAKE_ORIGIN_TIMEOUT at `when` unless disarmed first.
  // Throws what starting the thread throws (the caller's helper fails).
  uint64_t arm(Clock::time_point when, std::atomic<uint32_t>* word) {
    std::lock_guard<std::mutex> lock(m_mu);
    if (!m_thread.joinable()) m_thread = std::thread([this] { run(); });
    uint64_t ticket = ++m_next;
    m_armed.emplace(ticket, Armed{when, word});
    m_cv.notify_one();
    return ticket;
  }

  // After this returns the watchdog no longer touches the word.
  void disarm(uint64_t ticket) {
    std::lock_guard<std::mutex> lock(m_mu);
    m_armed.erase(ticket);
  }

private:
  struct Armed {
    Clock::time_point when;
    std::atomic<uint32_t>* word;
  };

  void run() {
    std::unique_lock<std::mutex> lock(m_mu);
    while (!m_stop) {
      // Few helpers wait at once: the earliest by a scan.
      auto earliest = Clock::time_point::max();
      for (auto it = m_armed.begin(); it != m_armed.end();) {
        if (it->second.when <= Clock::now()) {
          it->second.word->store(BRAKE_ORIGIN_TIMEOUT, std::memory_order_relaxed);
          it = m_armed.erase(it);
        } else {
          earliest = std::min(earliest, it->second.when);
          ++it;
        }
      }
      if (earliest == Clock::time_point::max()) m_cv.wait(lock);
      else m_cv.wait_until(lock, earliest);
    }
  }

  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;
  uint64_t m_next = 0;
  std::map<uint64_t, Armed> m_armed;
  std::thread m_thread; // last: started once the rest exists
};

} // namespace brake::runtime
