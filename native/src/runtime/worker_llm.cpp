// worker_llm.cpp: the LLM orchestrator, the part of a worker that runs an
// LLM function's client: its plan of attempts (llm/plan.h), each a prompt
// rendered for its client (llm/template.h), a provider request
// (llm/provider.h) sent by the worker's HTTP transport like a script's
// fetch, and the reply parsed into the function's return type
// (schema/parse_output.h).
//
// The call is an ordinary waiting call all along, so every cancel path
// (signal, brake_cancel, deadline, close, parent) ends it the usual way:
// while an attempt is in flight the call waits on its HTTP operation
// (cancelling dooms the transfer: its socket closes right after the call
// settles); during a backoff it sleeps on its sleep timer (removed by
// finish()); finish() forgets the run. So after a cancel no attempt starts,
// no backoff is slept out, and no round-robin counter moves (they move when
// an attempt has ended, and a cancelled one never ends). The outcome of a
// cancelled call is a cancellation, never an LLM error.
//
// Soft failures, each recorded as an attempt and followed by the plan's
// next step (after its delay): a network failure or timeout, a non-2xx
// status, a reply the provider's shape does not hold, a refused finish
// reason, a reply that does not parse into the return type. Hard failures
// end the call at once (a configuration error retrying cannot mend): a
// client's missing environment variable, a prompt that does not render, a
// request the network policy refuses.
#include <algorithm>

#include "common/utf8.h"
#include "http/request.h"
#include "http/transfer.h"
#include "llm/prompt.h"
#include "llm/provider.h"
#include "llm/template.h"
#include "runtime/engine.h"
#include "runtime/llm_run.h"
#include "runtime/value_convert.h"
#include "runtime/worker.h"
#include "schema/output_format.h"
#include "schema/parse_output.h"

namespace brake::runtime {

namespace {
using Clock = std::chrono::steady_clock;

uint64_t micros_since(Clock::time_point t) {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
}

// The longest retry-after brake honours (past it, the plan's own delay).
constexpr int64_t kMaxRetryAfterMs = 10 * 60 * 1000;
} // namespace

llm::RenderedPrompt render_llm_prompt(const vm::CompiledProgram& program, const vm::FunctionInfo& fn,
                                      const llm::ResolvedClient& client, const vm::Value* args, vm::Heap& heap,
                                      const std::atomic<uint32_t>* cancel_state, const CallTags* tags,
                                      std::vector<llm::MessageOptions>* options) {
  // The provider applies the client's role rules (allowed_roles,
  // remap_roles) when it builds the request; the template only needs the
  // role of text before any role call.
  llm::ClientContext ctx;
  ctx.name = client.name;
  ctx.provider = llm::provider_name(client.provider);
  ctx.default_role = client.default_role;
  llm::RenderInput in;
  in.program = &program;
  in.heap = &heap;
  in.cancel_state = cancel_state;
  in.names = fn.param_names.data();
  in.values = args;
  in.count = fn.arity;
  in.client = &ctx;
  in.template_strings = program.template_strings.get();
  in.tags = tags;
  lang::TypeId target = fn.return_type;
  in.output_format = [&program, target](const std::vector<std::pair<std::string, vm::Value>>& kwargs, std::string& out,
                                        std::string& why) {
    return schema::render_output_format(program, target, kwargs, out, why);
  };
  return llm::render_template(*program.llm_functions[size_t(fn.llm)].prompt, in, options);
}

// CALL_LLM: the call's plan is built and its first attempt goes out. Each
// round-robin client the plan picks from gives the call its own turn
// (fetch_add), so calls started together spread over the children; a call
// that ends before any attempt of it has ended gives its turns back
// (forget_llm_run), so a cancelled attempt moves no counter.
void Worker::start_llm(Call* call, const vm::Request& r) {
  const vm::CompiledProgram& program = m_engine.program();
  const vm::LlmFunctionInfo& fn = program.llm_functions[r.host_function];
  LlmRun* run = nullptr;
  try {
    auto owned = std::make_unique<LlmRun>();
    owned->llm_function = r.host_function;
    std::vector<uint64_t> counters;
    if (m_engine.has_round_robin()) {
      counters.resize(program.clients.size());
      for (uint32_t c = 0; c < counters.size(); c++)
        if (program.clients[c].provider == llm::Provider::RoundRobin) counters[c] = m_engine.rr_counter(c);
      // Which counters this plan reads, then a turn of each, then the plan at those turns.
      llm::build_plan(program.clients, program.retry_policies, fn.client, &counters, &owned->rr_used);
      for (uint32_t c : owned->rr_used) counters[c] = m_engine.take_rr_turn(c);
    }
    owned->plan = llm::build_plan(program.clients, program.retry_policies, fn.client, counters.empty() ? nullptr : &counters);
    run = owned.get();
    m_llm_runs.emplace(call, std::move(owned));
  } catch (const std::bad_alloc&) {
    if (run) m_llm_runs.erase(call);
    fail_call(call, "out_of_memory", "out of memory starting an LLM call");
    return;
  }
  if (run->plan.empty()) {
    fail_call(call, "internal", "client '" + program.clients[fn.client].name + "' has no attempt to make");
    return;
  }
  llm_attempt(call, *run);
}

// The run of a call that is finishing or resuming goes; the round-robin
// turns it took are given back if no attempt of it has ended.
void Worker::forget_llm_run(Call* call) {
  auto it = m_llm_runs.find(call);
  if (it == m_llm_runs.end()) return;
  uncharge_stream(call, *it->second);
  if (!it->second->rr_advanced)
    for (uint32_t c : it->second->rr_used) m_engine.give_back_rr_turn(c);
  m_llm_runs.erase(it);
}

// What a streamed attempt's text was charged to the call goes back (not
// after the call settled: its heap, and its account, are gone then).
void Worker::uncharge_stream(Call* call, LlmRun& run) {
  if (run.charged && call->has_fiber) call->fiber.heap().uncharge(run.charged);
  run.charged = 0;
}

// This worker's copy of client `c` with its options resolved (env.NAME
// read from the engine's environment), made once. Null with `error` and
// its `kind` when that fails: "missing_env" (a variable it needs is not in
// the engine's environment) or "invalid_client" (an option's value, read
// from the environment, is not one the provider takes).
const llm::ResolvedClient* Worker::resolved_client(uint32_t c, std::string& error, const char*& kind) {
  const vm::CompiledProgram& program = m_engine.program();
  if (m_resolved_clients.size() < program.clients.size()) m_resolved_clients.resize(program.clients.size());
  if (!m_resolved_clients[c]) {
    auto resolved = std::make_unique<llm::ResolvedClient>();
    if (!llm::resolve_client(program.clients[c], m_engine.env(), *resolved, error)) {
      kind = resolved->missing_variable.empty() ? "invalid_client" : "missing_env";
      return nullptr;
    }
    m_resolved_clients[c] = std::move(resolved);
  }
  return m_resolved_clients[c].get();
}

// Sends the plan's current step: the prompt rendered for its client, the
// provider's request, with the client's per-attempt timeout (or the
// engine's HTTP timeout) and no redirects.
void Worker::llm_attempt(Call* call, LlmRun& run) {
  try {
    send_llm_attempt(call, run);
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory starting an LLM attempt");
  }
}

void Worker::send_llm_attempt(Call* call, LlmRun& run) {
  const vm::CompiledProgram& program = m_engine.program();
  const vm::LlmFunctionInfo& fn = program.llm_functions[run.llm_function];
  const vm::FunctionInfo& info = program.functions[fn.function];
  uint32_t client = run.plan[run.step].client;
  std::string error;
  const char* kind = "";
  const llm::ResolvedClient* resolved = resolved_client(client, error, kind);
  if (!resolved) {
    fail_call(call, kind, std::move(error)); // the message names the client
    return;
  }
  llm::RenderedPrompt prompt;
  try {
    prompt = render_llm_prompt(program, info, *resolved, call->fiber.request_args(), call->fiber.heap(), &call->state,
                               call->tags.get());
  } catch (const llm::RenderError& e) {
    fail_call(call, "template_error", "the prompt of '" + info.name + "': " + e.what());
    return;
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", "rendering the prompt of '" + info.name + "': " + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory rendering the prompt of '" + info.name + "'");
    return;
  }
  http::Request req;
  run.attempt_started = Clock::now();
  // A streamed call's attempt: reported, and streamed when its client can.
  run.streaming = call->stream && resolved->supports_streaming;
  run.delivered = false;
  run.stream = llm::StreamState{};
  run.sse.reset();
  uncharge_stream(call, run);
  run.parsed_size = run.streamed_bytes = 0;
  run.partial_due = false;
  if (call->stream) {
    if (run.streaming) run.sse = std::make_unique<llm::SseDecoder>();
    brake_stream_event ev;
    ev.kind = BRAKE_STREAM_ATTEMPT;
    ev.attempt = ++run.attempts;
    ev.function = &info.name;
    ev.client = &program.clients[client].name;
    stream_event(call, std::move(ev));
  }
  if (!llm::build_request(*resolved, prompt, req, error,
                          run.streaming ? llm::RequestMode::Stream : llm::RequestMode::Complete)) {
    vm::LlmAttemptRecord record;
    record.error = error;
    llm_attempt_failed(call, run, std::move(record), -1);
    return;
  }
  uint64_t timeout = resolved->request_timeout_ms ? resolved->request_timeout_ms : m_engine.http().timeout_ms;
  Clock::time_point deadline = timeout ? Clock::now() + clamp_wait(timeout) : Clock::time_point::max();
  // Checkpoint: a cancel that arrived while the prompt rendered sends nothing.
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  // A streamed attempt's clocks: the first token's from now (the idle one
  // starts with the first part). Set before sending: an attempt that fails
  // at once may end the call (and its run) inside send_http.
  run.request_by = deadline;
  run.first_token_by = run.idle_by = run.armed = Clock::time_point::max();
  if (run.streaming && resolved->time_to_first_token_timeout_ms)
    run.first_token_by = Clock::now() + clamp_wait(resolved->time_to_first_token_timeout_ms);
  bool first_token_clock = run.first_token_by != Clock::time_point::max();
  send_http(call, req, timeout, deadline, 0);
  if (first_token_clock && call->phase == Phase::Waiting) arm_stream_timer(call, run); // (in flight: its run lives)
}

// Arms the call's sleep timer (which holds its request's timeout while it
// waits) for the streamed attempt's earliest clock, if that is earlier than
// what it is armed for. Throws std::bad_alloc.
void Worker::arm_stream_timer(Call* call, LlmRun& run) {
  Clock::time_point due = run.stream_due();
  if (call->sleep_timer != kNoTimer) {
    if (due >= run.armed) return;
    m_timers.remove(call->sleep_timer);
  }
  if (due == Clock::time_point::max()) return;
  m_timers.add(due, call, TimerKind::Sleep);
  run.armed = due;
}

// The sleep timer of a call waiting on a streamed attempt fired: the
// request's own timeout (false: handled as any request's), a stream clock
// (the attempt fails: no first token in time_to_first_token_timeout_ms, or
// no part in idle_timeout_ms), or early, for a clock that has since moved
// (armed again).
bool Worker::llm_stream_timer(Call* call, LlmRun& run) {
  Clock::time_point now = Clock::now();
  if (now >= run.request_by) return false;
  run.armed = Clock::time_point::max(); // (it fired)
  if (now < run.stream_due()) {
    try {
      arm_stream_timer(call, run);
    } catch (const std::bad_alloc&) {
      fail_call(call, "out_of_memory", "out of memory timing a streamed LLM reply");
    }
    return true;
  }
  const llm::ResolvedClient& resolved = *m_resolved_clients[run.plan[run.step].client];
  vm::LlmAttemptRecord record;
  record.error = run.delivered || (run.idle_by <= now && run.idle_by != Clock::time_point::max())
                     ? "no data within idle_timeout_ms (" + std::to_string(resolved.idle_timeout_ms) + " ms)"
                     : "no token within time_to_first_token_timeout_ms (" +
                           std::to_string(resolved.time_to_first_token_timeout_ms) + " ms)";
  drop_operation(call, true, BRAKE_ORIGIN_TIMEOUT);
  llm_attempt_failed(call, run, std::move(record), -1, run.delivered);
  return true;
}

// The transport's answer to the current attempt (or its failure: a network
// error, the attempt's timeout).
void Worker::llm_answered(Call* call, LlmRun& run, const http::Answer& answer) {
  try {
    take_llm_answer(call, run, answer);
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory taking an LLM reply");
  }
}

void Worker::take_llm_answer(Call* call, LlmRun& run, const http::Answer& answer) {
  const vm::CompiledProgram& program = m_engine.program();
  const vm::LlmFunctionInfo& fn = program.llm_functions[run.llm_function];
  uint32_t client = run.plan[run.step].client;
  const llm::ResolvedClient* resolved = m_resolved_clients[client].get(); // resolved when the attempt was sent
  llm::ProviderReply reply;
  bool streamed = run.streaming && !answer.failed && answer.status >= 200 && answer.status < 300;
  if (streamed) { // the rest of the stream, then what it amounts to
    std::string error;
    if (!read_llm_stream(call, run, answer.body, error, true)) {
      if (call->phase == Phase::Done) return; // (cancelled, or out of memory)
      reply.status = answer.status;
      reply.error = std::move(error);
    } else if (!run.sse->at_boundary() && !run.stream.done) {
      reply.status = answer.status;
      reply.error = "the event stream ended in the middle of an event";
    } else {
      reply = llm::finish_stream(*resolved, run.stream);
      reply.status = answer.status;
    }
  } else {
    reply = llm::read_response(*resolved, answer);
  }
  vm::LlmAttemptRecord record;
  record.status = reply.status;
  record.body = std::move(reply.body_excerpt);
  if (reply.outcome != llm::ProviderReply::Outcome::Ok) {
    record.error = std::move(reply.error);
    // A finish reason the client's lists refuse ends the call: as BAML
    // documents, it is not retried and does not fall back. Neither is an
    // attempt whose deltas the host has been given.
    bool final_attempt = reply.failure == llm::ProviderReply::Failure::FinishReason || run.delivered;
    llm_attempt_failed(call, run, std::move(record), reply.retry_after_ms, final_attempt);
    return;
  }
  if (call->stream && !streamed) { // a whole reply to a streamed call: one delta
    brake_stream_event ev;
    ev.kind = BRAKE_STREAM_DELTA;
    ev.attempt = run.attempts;
    ev.function = &program.functions[fn.function].name;
    ev.client = &program.clients[client].name;
    ev.text = reply.text;
    stream_event(call, std::move(ev));
    run.delivered = true;
  }
  vm::Value value;
  std::string why;
  bool parsed;
  try {
    parsed = schema::parse_output(reply.text, program.functions[fn.function].return_type, program, call->fiber.heap(),
                                  &call->state, value, why);
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return;
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", std::string("parsing the model's reply: ") + e.what());
    return;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory parsing the model's reply");
    return;
  }
  if (!parsed) { // (not retried once its text was delivered: the first-delta rule)
    record.error = "the reply does not parse as " + program.type_name(program.functions[fn.function].return_type) + ": " + why;
    llm_attempt_failed(call, run, std::move(record), -1, run.delivered);
    return;
  }
  if (brake_origin o = call->cancel_origin()) { // checkpoint before the value is committed
    finish_cancelled(call, o);
    return;
  }
  run.rr_advanced = true;
  llm_resume(call, value);
}

// A part of operation `op`'s streamed body arrived (from either transport):
// read if its call still waits on it in a streamed attempt, dropped otherwise.
void Worker::stream_part(Operation* op, const std::string& bytes) {
  Call* call = op->call;
  if (call->phase != Phase::Waiting || m_operations[call->operation] != op) return;
  LlmRun* run = llm_run(call);
  if (run && run->streaming) llm_stream_part(call, *run, bytes);
}

// A part of a streamed attempt's body arrived.
void Worker::llm_stream_part(Call* call, LlmRun& run, const std::string& bytes) {
  if (brake_origin o = call->cancel_origin()) { // checkpoint: nothing more of a cancelled call is reported
    finish_cancelled(call, o);
    return;
  }
  std::string error;
  uint64_t limit = m_engine.http().max_response_bytes; // (a host transport's parts too)
  run.streamed_bytes += bytes.size();
  if (limit && run.streamed_bytes > limit) error = http::too_large_message(limit);
  else if (read_llm_stream(call, run, bytes, error) || call->phase == Phase::Done) return;
  // The stream is broken: the attempt ends here (its transfer is stopped).
  drop_operation(call, true);
  vm::LlmAttemptRecord record;
  record.status = 200;
  record.error = std::move(error);
  llm_attempt_failed(call, run, std::move(record), -1, run.delivered);
}

// Reads `bytes` of the attempt's event stream (`end`: the last of it):
// each event through the provider's reader, a DELTA reported for each piece
// of text, then a PARTIAL for the text so far (see below). False with
// `error` when the stream is
// broken (an error event, an event not of the provider's shape, a line over
// the decoder's limit), or when the call ended here (phase Done: cancelled
// during the partial parse, or out of memory).
bool Worker::read_llm_stream(Call* call, LlmRun& run, std::string_view bytes, std::string& error, bool end) {
  const vm::CompiledProgram& program = m_engine.program();
  const vm::LlmFunctionInfo& fn = program.llm_functions[run.llm_function];
  const vm::FunctionInfo& info = program.functions[fn.function];
  uint32_t client = run.plan[run.step].client;
  const llm::ResolvedClient& resolved = *m_resolved_clients[client];
  try {
    if (resolved.idle_timeout_ms && call->operation != kNoOperation) { // the next part's clock (not at the end)
      run.idle_by = Clock::now() + clamp_wait(resolved.idle_timeout_ms);
      arm_stream_timer(call, run);
    }
    m_sse_events.clear();
    if (!run.sse->feed(bytes, m_sse_events)) {
      error = "the event stream: " + run.sse->error();
      return false;
    }
    size_t before = run.stream.text.size();
    for (const llm::SseEvent& e : m_sse_events) {
      if (run.stream.done) break; // nothing counts after the provider's end
      size_t prior = run.stream.text.size();
      llm::StreamEvent k = llm::read_stream_event(resolved, e.type, e.data, run.stream, error);
      if (k == llm::StreamEvent::Failed) return false;
      if (k != llm::StreamEvent::Delta || run.stream.text.size() == prior) continue;
      brake_stream_event ev;
      ev.kind = BRAKE_STREAM_DELTA;
      ev.attempt = run.attempts;
      ev.function = &info.name;
      ev.client = &program.clients[client].name;
      ev.text.assign(run.stream.text, prior, std::string::npos);
      stream_event(call, std::move(ev));
      run.delivered = true;
    }
    m_sse_events.clear();
    if (run.stream.text.size() > before) {
      run.partial_due = true;
      // The reply's text counts against the call's memory (given back when the attempt or run ends).
      size_t grown = run.stream.text.size() - before;
      call->fiber.heap().charge(grown);
      run.charged += grown;
    }
    // The best partial value of the text so far: not while the last one is
    // still undelivered (it would only replace it), and once the text has
    // grown by an eighth since the last parse, so parsing a reply that comes
    // a token at a time costs about nine passes over it, not one per token;
    // at the stream's `end`, whatever the text gained since.
    size_t size = run.stream.text.size();
    if (!run.partial_due || (!end && (size < run.parsed_size + run.parsed_size / 8 || call->stream->partial_pending())))
      return true;
    run.partial_due = false;
    run.parsed_size = size;
    vm::Heap& heap = call->fiber.heap();
    vm::Value value;
    std::string why;
    schema::ParseOptions options;
    options.partial = true;
    if (schema::parse_output(run.stream.text, info.return_type, program, heap, &call->state, value, why, options)) {
      brake_stream_event ev;
      ev.kind = BRAKE_STREAM_PARTIAL;
      ev.function = &info.name;
      ev.value = from_vm(program, value, heap, &call->state);
      stream_event(call, std::move(ev));
    }
    call->fiber.collect_suspended(&call->state);
  } catch (const vm::Interrupted&) {
    finish_cancelled(call, call->cancel_origin());
    return false;
  } catch (const vm::MemoryLimitExceeded& e) {
    fail_call(call, "out_of_memory", std::string("reading the model's streamed reply: ") + e.what());
    return false;
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory reading the model's streamed reply");
    return false;
  }
  return true;
}

// A soft failure: recorded, then the next step (after its delay, or a
// retry-after the provider asked for, when that is longer and ends before
// the call's deadline), or, with none left (or when it is the `last` the
// call may make), the call fails with every attempt (BRAKE_LLM_ERROR).
void Worker::llm_attempt_failed(Call* call, LlmRun& run, vm::LlmAttemptRecord record, int64_t retry_after_ms,
                                bool final_attempt) {
  const vm::CompiledProgram& program = m_engine.program();
  const llm::ClientInfo& client = program.clients[run.plan[run.step].client];
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  try {
    record.client = client.name;
    record.provider = llm::provider_name(client.provider);
    record.duration_us = micros_since(run.attempt_started);
    if (record.error.size() > vm::kHttpBodyExcerpt) // an error can quote the reply: kept short
      record.error = std::string(utf8_prefix(record.error, vm::kHttpBodyExcerpt)) + "...";
    run.failed.push_back(std::move(record));
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory recording an LLM attempt");
    return;
  }
  run.rr_advanced = true; // an attempt ended: the call's round-robin turns are used
  uint32_t failed_client = run.plan[run.step].client;
  int64_t failed_status = run.failed.back().status;
  run.step++;
  if (final_attempt || run.step == run.plan.size()) {
    const vm::LlmFunctionInfo& fn = program.llm_functions[run.llm_function];
    const vm::LlmAttemptRecord& last = run.failed.back();
    vm::ScriptError error{"llm_failed",
                          "'" + program.functions[fn.function].name + "' failed after " + std::to_string(run.failed.size()) +
                              (run.failed.size() == 1 ? " attempt" : " attempts") + " (last: client '" + last.client +
                              "': " + last.error + ")",
                          {},
                          ""};
    try {
      auto failure = std::make_shared<vm::LlmFailure>();
      failure->attempts = std::move(run.failed);
      error.llm = std::move(failure);
    } catch (const std::bad_alloc&) {
      error.kind = "out_of_memory";
    }
    if (error.kind == "out_of_memory") fail_call(call, std::move(error));
    else fail_catchable(call, std::move(error)); // ("llm_failed: ..." to a catch around the call)
    return;
  }
  // A 429's or 503's retry-after, for the next attempt of the same client.
  uint64_t delay = run.plan[run.step].delay_ms;
  if ((failed_status == 429 || failed_status == 503) && run.plan[run.step].client == failed_client &&
      retry_after_ms > 0 && retry_after_ms <= kMaxRetryAfterMs && uint64_t(retry_after_ms) > delay &&
      (call->deadline == Clock::time_point::max() ||
       Clock::now() + std::chrono::milliseconds(retry_after_ms) < call->deadline))
    delay = uint64_t(retry_after_ms);
  // Even with no delay the next attempt starts from the timer heap, on the
  // worker's next turn: a failure reported while an attempt was being
  // started (a request the provider cannot take, a transfer that did not
  // start) then never recurses into the next attempt, however long the plan.
  try {
    m_timers.add(Clock::now() + clamp_wait(delay), call, TimerKind::Sleep);
  } catch (const std::bad_alloc&) {
    fail_call(call, "out_of_memory", "out of memory starting an LLM backoff");
    return;
  }
  call->phase = Phase::Sleeping;
}

// The backoff before the next attempt has passed.
void Worker::llm_backoff_done(Call* call, LlmRun& run) {
  if (brake_origin o = call->cancel_origin()) {
    finish_cancelled(call, o);
    return;
  }
  call->phase = Phase::Waiting; // until llm_attempt sends (or fails the call)
  llm_attempt(call, run);
}

// The call goes on with the function's value (the run is over).
void Worker::llm_resume(Call* call, vm::Value v) {
  forget_llm_run(call);
  call->fiber.resume(v);
  call->phase = Phase::Ready;
  m_fresh.push_back(call);
}

} // namespace brake::runtime
