// llm_run.h: the state of one LLM function call on its worker (the
// orchestrator's; runtime/worker_llm.cpp): the plan of attempts, where it
// is, and what failed so far. Owned by the worker (Worker::m_llm_runs),
// from the call's CALL_LLM until the call finishes or resumes with a value.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "llm/plan.h"
#include "vm/interpreter.h"

namespace brake::runtime {

struct LlmRun {
  uint32_t llm_function = 0; // index into CompiledProgram::llm_functions
  uint8_t argc = 0;          // the arguments are the fiber's request_args()
  std::vector<llm::PlanStep> plan;
  size_t step = 0; // the attempt in flight, or the next one after a backoff
  // Round-robin clients the plan picked from, a turn of each taken when
  // the plan was built; given back unless an attempt ended (rr_advanced).
  std::vector<uint32_t> rr_used;
  bool rr_advanced = false;
  std::chrono::steady_clock::time_point attempt_started;
  std::vector<vm::LlmAttemptRecord> failed; // attempts that failed, in order
};

} // namespace brake::runtime
