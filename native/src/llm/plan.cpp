#include "llm/plan.h"

#include <algorithm>
#include <cmath>

namespace brake::llm {

uint64_t RetryPolicyInfo::delay_before(uint32_t attempt) const {
  if (attempt == 0) return 0;
  double d = double(delay_ms) * std::pow(multiplier, double(attempt - 1));
  if (!(d < double(max_delay_ms))) return max_delay_ms;
  return uint64_t(d);
}

namespace {

struct Planner {
  const std::vector<ClientInfo>& clients;
  const std::vector<RetryPolicyInfo>& policies;
  const std::vector<uint64_t>* counters;
  std::vector<uint32_t>* used;
  std::vector<PlanStep> steps;

  uint64_t counter(uint32_t c) const { return counters && c < counters->size() ? (*counters)[c] : 0; }

  // Appends `c`'s steps for the enclosing retry attempt `rotation`, each
  // waiting `wait` unless it has a delay of its own.
  void expand(uint32_t c, uint32_t rotation, uint64_t wait, uint32_t depth) {
    const ClientInfo& info = clients[c];
    if (depth > kMaxClientNesting || steps.size() >= kMaxPlanSteps) return; // (the checker refused such programs)
    if (info.retry_policy >= 0) {
      const RetryPolicyInfo& p = policies[size_t(info.retry_policy)];
      for (uint32_t k = 0; k <= p.max_retries; k++) one(c, rotation + k, k ? p.delay_before(k) : wait, depth);
      return;
    }
    one(c, rotation, wait, depth);
  }

  void one(uint32_t c, uint32_t rotation, uint64_t wait, uint32_t depth) {
    const ClientInfo& info = clients[c];
    switch (info.provider) {
    case Provider::Fallback:
      for (uint32_t child : info.strategy) expand_child(child, rotation, wait, depth);
      return;
    case Provider::RoundRobin: {
      if (info.strategy.empty()) return;
      if (used && std::find(used->begin(), used->end(), c) == used->end()) used->push_back(c);
      uint64_t pick = (uint64_t(info.start) + counter(c) + rotation) % info.strategy.size();
      expand_child(info.strategy[size_t(pick)], rotation, wait, depth);
      return;
    }
    default:
      if (steps.size() < kMaxPlanSteps) steps.push_back(PlanStep{c, wait});
    }
  }

  void expand_child(uint32_t child, uint32_t rotation, uint64_t wait, uint32_t depth) {
    size_t first = steps.size();
    expand(child, rotation, 0, depth + 1);
    for (size_t i = first; i < steps.size(); i++)
      if (steps[i].delay_ms == 0) steps[i].delay_ms = wait;
  }
};

} // namespace

std::vector<PlanStep> build_plan(const std::vector<ClientInfo>& clients, const std::vector<RetryPolicyInfo>& policies,
                                 uint32_t client, const std::vector<uint64_t>* rr_counters, std::vector<uint32_t>* rr_used) {
  Planner p{clients, policies, rr_counters, rr_used, {}};
  p.expand(client, 0, 0, 0);
  return std::move(p.steps);
}

std::vector<PlanBounds> plan_bounds(const std::vector<ClientInfo>& clients, const std::vector<RetryPolicyInfo>& policies) {
  // Each client once, children before parents (a strategy may name a
  // client many times, so walking each tree could take exponential time),
  // without recursion (a chain of composite clients may be long). The
  // clients form no cycle (the checker refuses them first).
  const uint64_t cap = uint64_t(kMaxPlanSteps) + 1;
  std::vector<PlanBounds> out(clients.size());
  std::vector<uint8_t> state(clients.size(), 0); // 0 new, 1 on the stack, 2 done
  std::vector<std::pair<uint32_t, size_t>> stack;
  for (uint32_t root = 0; root < clients.size(); root++) {
    if (state[root]) continue;
    stack.emplace_back(root, 0);
    state[root] = 1;
    while (!stack.empty()) {
      uint32_t c = stack.back().first;
      size_t& next = stack.back().second;
      const ClientInfo& info = clients[c];
      if (next < info.strategy.size()) {
        uint32_t child = info.strategy[next++];
        if (state[child] == 0) {
          state[child] = 1;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      PlanBounds b;
      if (is_composite(info.provider)) {
        for (uint32_t child : info.strategy) {
          const PlanBounds& cb = out[child];
          b.steps = std::min(info.provider == Provider::Fallback ? b.steps + cb.steps : std::max(b.steps, cb.steps), cap);
          b.depth = std::max(b.depth, cb.depth + 1);
        }
      } else {
        b.steps = 1;
      }
      if (info.retry_policy >= 0)
        b.steps = std::min(b.steps * (uint64_t(policies[size_t(info.retry_policy)].max_retries) + 1), cap);
      b.depth = std::min<uint32_t>(b.depth, kMaxClientNesting + 1);
      out[c] = b;
      state[c] = 2;
      stack.pop_back();
    }
  }
  return out;
}

} // namespace brake::llm
