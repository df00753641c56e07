// engine_prompt.cpp: the LLM layer for hosts, without calling a model:
// Engine::render_prompt, an LLM function's prompt as its client would
// receive it (brake.h: brake_engine_render_prompt), and Engine::parse, a
// reply's text parsed into a function's return type (brake_engine_parse).
// Both run on the calling thread against a heap of their own, charged to
// the engine's memory account like a call's.
#include <memory>

#include "llm/plan.h"
#include "llm/provider.h"
#include "llm/template.h"
#include "runtime/engine.h"
#include "runtime/llm_run.h"
#include "runtime/value_convert.h"
#include "schema/parse_output.h"

namespace brake::runtime {

namespace {
ValuePtr host_text(std::string_view s) {
  auto v = std::make_unique<brake_value>(BRAKE_KIND_STRING);
  v->text = std::string(s);
  return v;
}
void put(brake_value& map, const char* key, ValuePtr v) {
  map.keys.emplace_back(key);
  map.items.push_back(std::move(v));
}

// {kind: "image", url: "..."} or {kind, base64, media_type}.
ValuePtr media_value(const llm::Media& m) {
  static const char* const kinds[] = {"image", "audio", "pdf", "video"};
  auto v = std::make_unique<brake_value>(BRAKE_KIND_MAP);
  put(*v, "kind", host_text(kinds[size_t(m.kind)]));
  if (!m.url.empty()) put(*v, "url", host_text(m.url));
  if (!m.base64.empty()) put(*v, "base64", host_text(m.base64));
  if (!m.mime_type.empty()) put(*v, "media_type", host_text(m.mime_type));
  return v;
}
// Stops work on the calling thread after `timeout_ms` (0: never): the
// engine's watchdog sets the work's cancel word when it passes.
class Deadline {
public:
  Deadline(HostDeadlines& watch, uint64_t timeout_ms) : m_watch(watch) {
    if (timeout_ms) m_ticket = watch.arm(HostDeadlines::Clock::now() + clamp_wait(timeout_ms), &m_stop);
  }
  ~Deadline() {
    if (m_ticket) m_watch.disarm(m_ticket);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  const std::atomic<uint32_t>* state() const { return &m_stop; }

private:
  HostDeadlines& m_watch;
  std::atomic<uint32_t> m_stop{0};
  uint64_t m_ticket = 0;
};

// Runs `work`, the part of a host-side helper that allocates on its heap
// and looks at its deadline, turning the engine's limits into statuses.
template <typename Work> int within_limits(const char* doing, uint64_t timeout_ms, std::string& message, Work work) {
  try {
    return work();
  } catch (const vm::MemoryLimitExceeded& e) {
    message = std::string(doing) + ": " + e.what();
    return BRAKE_NO_MEMORY;
  } catch (const vm::Interrupted&) {
    message = std::string(doing) + " took longer than " + std::to_string(timeout_ms) + " ms";
    return BRAKE_TIMEOUT;
  }
}
} // namespace

int Engine::render_prompt(const char* function, const brake_value* const* args, size_t nargs,
                          const brake_render_options& options, ValuePtr& out, std::string& message) {
  const char* client_name = options.client;
  if (m_closed.load(std::memory_order_acquire)) {
    message = "the engine is closed";
    return BRAKE_ENGINE_CLOSED;
  }
  const vm::CompiledProgram& p = *m_program;
  uint32_t index = 0;
  if (int status = find_function(function, index, message)) return status;
  const vm::FunctionInfo& fn = p.functions[index];
  if (fn.llm < 0) {
    message = "function '" + fn.name + "' is not an LLM function: it has no prompt";
    return BRAKE_INVALID_ARGUMENT;
  }
  const vm::LlmFunctionInfo& llm_fn = p.llm_functions[size_t(fn.llm)];
  if (int status = check_arguments(fn, args, nargs, message)) return status;
  // The client: the one named, or the first its plan would ask.
  uint32_t client = 0;
  if (client_name && *client_name) {
    bool found = false;
    for (uint32_t c = 0; c < p.clients.size() && !found; c++)
      if (p.clients[c].name == client_name && !llm::is_composite(p.clients[c].provider)) {
        client = c;
        found = true;
      }
    if (!found) {
      message = std::string("no client '") + client_name + "' with a provider (fallback and round-robin send nothing themselves)";
      return BRAKE_INVALID_ARGUMENT;
    }
  } else {
    std::vector<llm::PlanStep> plan = llm::build_plan(p.clients, p.retry_policies, llm_fn.client);
    if (plan.empty()) {
      message = "client '" + p.clients[llm_fn.client].name + "' has no attempt to make";
      return BRAKE_INVALID_ARGUMENT;
    }
    client = plan[0].client;
  }
  if (int status = check_tags(options.tag_names, options.tag_values, options.tag_count, message)) return status;
  CallTags tags;
  for (size_t i = 0; i < options.tag_count; i++) tags.emplace_back(options.tag_names[i], options.tag_values[i]);
  llm::ResolvedClient resolved;
  // Nothing is sent: a key the client would need may be missing.
  if (!llm::resolve_client(p.clients[client], m_env, resolved, message, llm::EnvRule::MissingIsEmpty))
    return BRAKE_SCRIPT_ERROR;

  Deadline deadline(m_host_deadlines, options.timeout_ms);
  vm::Heap heap(&m_memory);
  std::vector<vm::Value> values;
  llm::RenderedPrompt prompt;
  std::vector<llm::MessageOptions> message_options;
  int status = within_limits("rendering the prompt", options.timeout_ms, message, [&] {
    try {
      for (size_t i = 0; i < nargs; i++) values.push_back(to_vm(p, *args[i], fn.param_types[i], heap));
      prompt = render_llm_prompt(p, fn, resolved, values.data(), heap, deadline.state(), &tags, &message_options);
    } catch (const llm::RenderError& e) {
      message = "the prompt of '" + fn.name + "': " + e.what();
      return int(BRAKE_SCRIPT_ERROR);
    }
    return int(BRAKE_OK);
  });
  if (status != BRAKE_OK) return status;
  // {chat, client, messages: [{role, allow_duplicate_role, parts: [{text} | {media}]}]},
  // each role as the provider sends it.
  out = std::make_unique<brake_value>(BRAKE_KIND_MAP);
  auto chat = std::make_unique<brake_value>(BRAKE_KIND_BOOL);
  chat->b = prompt.chat;
  put(*out, "chat", std::move(chat));
  put(*out, "client", host_text(resolved.name));
  auto messages = std::make_unique<brake_value>(BRAKE_KIND_ARRAY);
  for (size_t m = 0; m < prompt.messages.size(); m++) {
    const llm::PromptMessage& msg = prompt.messages[m];
    auto mv = std::make_unique<brake_value>(BRAKE_KIND_MAP);
    put(*mv, "role", host_text(llm::role_for(resolved, msg.role)));
    auto dupe = std::make_unique<brake_value>(BRAKE_KIND_BOOL);
    dupe->b = m < message_options.size() && message_options[m].allow_duplicate_role;
    put(*mv, "allow_duplicate_role", std::move(dupe));
    auto parts = std::make_unique<brake_value>(BRAKE_KIND_ARRAY);
    for (const llm::PromptPart& part : msg.parts) {
      auto pv = std::make_unique<brake_value>(BRAKE_KIND_MAP);
      if (part.kind == llm::PromptPart::Kind::Text) put(*pv, "text", host_text(part.text));
      else put(*pv, "media", media_value(part.media));
      parts->items.push_back(std::move(pv));
    }
    put(*mv, "parts", std::move(parts));
    messages->items.push_back(std::move(mv));
  }
  put(*out, "messages", std::move(messages));
  return BRAKE_OK;
}

int Engine::parse(const char* function, std::string_view text, const brake_parse_options& options, ValuePtr& out,
                  std::string& message) {
  return parse_with(function, text, options, nullptr, out, message);
}

int Engine::parse_json(const char* function, std::string_view text, const brake_parse_options& options,
                       brake_json& json, ValuePtr& out, std::string& message) {
  return parse_with(function, text, options, &json, out, message);
}

int Engine::parse_with(const char* function, std::string_view text, const brake_parse_options& options,
                       brake_json* json, ValuePtr& out, std::string& message) {
  if (m_closed.load(std::memory_order_acquire)) {
    message = "the engine is closed";
    return BRAKE_ENGINE_CLOSED;
  }
  const vm::CompiledProgram& p = *m_program;
  uint32_t index = 0;
  if (int status = find_function(function, index, message)) return status;
  lang::TypeId type = p.functions[index].return_type;
  Deadline deadline(m_host_deadlines, options.timeout_ms);
  vm::Heap heap(&m_memory);
  return within_limits("parsing the text", options.timeout_ms, message, [&] {
    vm::Value value;
    schema::ParseOptions parse_options;
    parse_options.partial = options.partial != 0;
    if (json) {
      schema::HostJson written;
      if (!schema::parse_output_json(text, type, p, heap, deadline.state(), written, message, parse_options))
        return int(BRAKE_SCRIPT_ERROR);
      if (written.exact) {
        json->text = std::move(written.text);
        json->classes = std::move(written.classes);
        json->any_instance = written.any_instance;
        return int(BRAKE_OK);
      }
      value = written.value;
    } else if (!schema::parse_output(text, type, p, heap, deadline.state(), value, message, parse_options)) {
      return int(BRAKE_SCRIPT_ERROR);
    }
    out = from_vm(p, value, heap, deadline.state());
    if (!out) {
      message = "the parsed value is nested too deeply to return";
      return int(BRAKE_SCRIPT_ERROR);
    }
    return int(BRAKE_OK);
  });
}

} // namespace brake::runtime
