// clock.h: the steady clock as nanoseconds (deadlines kept as plain
// integers, in atomics and multimaps).
#pragma once

#include <chrono>
#include <cstdint>

namespace brake {

inline int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace brake
