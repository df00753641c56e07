// llm_run.h: the state of one LLM function call on its worker (the
// orchestrator's; runtime/worker_llm.cpp): the plan of attempts, where it
// is, and what failed so far. Owned by the worker (Worker::m_llm_runs),
// from the call's CALL_LLM until the call finishes or resumes with a value.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "llm/plan.h"
#include "llm/prompt.h"
#include "llm/provider.h"
#include "llm/sse.h"
#include "runtime/call.h"
#include "vm/interpreter.h"

namespace brake::llm {
struct MessageOptions;
} // namespace brake::llm

namespace brake::runtime {

struct LlmRun {
  uint32_t llm_function = 0; // index into CompiledProgram::llm_functions
  std::vector<llm::PlanStep> plan;
  size_t step = 0; // the attempt in flight, or the next one after a backoff
  // Round-robin clients the plan picked from, a turn of each taken when
  // the plan was built; given back unless an attempt ended (rr_advanced).
  std::vector<uint32_t> rr_used;
  bool rr_advanced = false;
  std::chrono::steady_clock::time_point attempt_started;
  std::vector<vm::LlmAttemptRecord> failed; // attempts that failed, in order

  // A streamed call (Call::stream): attempts made (the ATTEMPT events'
  // numbers), and the attempt in flight's stream when its client streams
  // (streaming): the event decoder, the provider's reading of it, and
  // whether a delta of it has been reported (then a failure of it ends the
  // call: no retry, no fallback).
  uint32_t attempts = 0;
  bool streaming = false;
  bool delivered = false;
  std::unique_ptr<llm::SseDecoder> sse;
  llm::StreamState stream;
  uint64_t streamed_bytes = 0; // the body so far (the response-size limit)
  size_t charged = 0;          // the text so far, charged to the call's heap
  size_t parsed_size = 0;      // the text's size at the last partial parse
  bool partial_due = false;    // the text grew since then
  // The streamed attempt's clocks (the client's http options): its
  // request's whole timeout, the first token's (time_to_first_token_timeout_ms,
  // until a delta), and the next part's (idle_timeout_ms, from each part). The
  // call's sleep timer is armed for the earliest (`armed`); firing early it
  // is armed again (worker_llm.cpp: llm_stream_timer).
  std::chrono::steady_clock::time_point request_by = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point first_token_by = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point idle_by = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point armed = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point stream_due() const {
    return std::min(delivered ? idle_by : std::min(first_token_by, idle_by), request_by);
  }
};

// LLM function `fn`'s prompt for `args` (fn's parameters, in order), as
// `client` is sent it: ctx.client is that client, ctx.output_format the
// return type's, ctx.tags `tags` (may be null). Throws what
// llm::render_template throws. (Calls and Engine::render_prompt.)
llm::RenderedPrompt render_llm_prompt(const vm::CompiledProgram& program, const vm::FunctionInfo& fn,
                                      const llm::ResolvedClient& client, const vm::Value* args, vm::Heap& heap,
                                      const std::atomic<uint32_t>* cancel_state, const CallTags* tags,
                                      std::vector<llm::MessageOptions>* options = nullptr);

} // namespace brake::runtime
