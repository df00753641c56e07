// plan.h: the orchestration plan of an LLM client: the attempts a call
// makes, in order, each with the delay before it. The rules (BAML's, as
// ../shared/conformance's orchestration-plans state them):
//   - a primitive client is one step;
//   - fallback is its children's plans one after another;
//   - round-robin is one child's plan: child (start + counter + rotation) % n,
//     where counter is how many calls the client has made (building a plan
//     never advances it) and rotation the enclosing retry attempt, so a retry
//     moves to the next child;
//   - a retry policy repeats the client's plan max_retries more times, each
//     attempt re-expanded with its attempt number as the rotation; attempt k's
//     steps wait delay_before(k) (a step that waits for a retry of its own
//     keeps its own delay).
// The delay is slept after the previous step failed, never after the last.
#pragma once

#include <cstdint>
#include <vector>

#include "llm/client.h"

namespace brake::llm {

struct PlanStep {
  uint32_t client; // a primitive client, by index
  uint64_t delay_ms;
  bool operator==(const PlanStep& o) const { return client == o.client && delay_ms == o.delay_ms; }
};

// Limits the checker holds every client to (compile errors past them).
constexpr uint32_t kMaxPlanSteps = 1024;
constexpr uint32_t kMaxClientNesting = 32;

// The plan of `client`. `rr_counters`: each round-robin client's calls so
// far, by client index (null or short: 0). `rr_used` (may be null) gets
// the round-robin clients the plan picked from, each once: the counters a
// call advances (by one) once it has made an attempt.
std::vector<PlanStep> build_plan(const std::vector<ClientInfo>& clients, const std::vector<RetryPolicyInfo>& policies,
                                 uint32_t client, const std::vector<uint64_t>* rr_counters = nullptr,
                                 std::vector<uint32_t>* rr_used = nullptr);

// For each client: the most steps its plan can have (whatever round-robin
// picks) and how many levels of composite clients it holds; counting stops
// just past the limits. The clients must form no cycle.
struct PlanBounds {
  uint64_t steps = 0;
  uint32_t depth = 0;
};
std::vector<PlanBounds> plan_bounds(const std::vector<ClientInfo>& clients, const std::vector<RetryPolicyInfo>& policies);

} // namespace brake::llm
