// engine_prompt.cpp: Engine::render_prompt, an LLM function's prompt as its
// client would receive it, without calling the model (brake.h:
// brake_engine_render_prompt). Runs on the calling thread against a heap of
// its own, charged to the engine's memory account like a call's.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "llm/plan.h"
#include "llm/provider.h"
#include "llm/template.h"
#include "runtime/engine.h"
#include "runtime/llm_run.h"
#include "runtime/value_convert.h"

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

  // The deadline: a watchdog sets the render's cancel word when it passes
  // (only when one was asked for: a thread per render otherwise is waste).
  std::atomic<uint32_t> stop{0};
  std::mutex mu;
  std::condition_variable cv;
  bool rendered = false;
  std::thread watchdog;
  if (options.timeout_ms) {
    auto until = std::chrono::steady_clock::now() + clamp_wait(options.timeout_ms);
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_until(lock, until, [&] { return rendered; })) stop.store(BRAKE_ORIGIN_TIMEOUT, std::memory_order_relaxed);
    });
  }
  struct Join {
    std::thread& t;
    std::mutex& mu;
    std::condition_variable& cv;
    bool& done;
    ~Join() {
      if (!t.joinable()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
      }
      cv.notify_one();
      t.join();
    }
  } join{watchdog, mu, cv, rendered};
  vm::Heap heap(&m_memory);
  std::vector<vm::Value> values;
  llm::RenderedPrompt prompt;
  std::vector<llm::MessageOptions> message_options;
  try {
    for (size_t i = 0; i < nargs; i++) values.push_back(to_vm(p, *args[i], fn.param_types[i], heap));
    prompt = render_llm_prompt(p, fn, resolved, values.data(), heap, &stop, &tags, &message_options);
  } catch (const llm::RenderError& e) {
    message = "the prompt of '" + fn.name + "': " + e.what();
    return BRAKE_SCRIPT_ERROR;
  } catch (const vm::MemoryLimitExceeded& e) {
    message = std::string("rendering the prompt: ") + e.what();
    return BRAKE_NO_MEMORY;
  } catch (const vm::Interrupted&) {
    message = "rendering the prompt took longer than " + std::to_string(options.timeout_ms) + " ms";
    return BRAKE_TIMEOUT;
  }
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

} // namespace brake::runtime
