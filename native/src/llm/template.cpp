// template.cpp: rendering entry points: a template's output split into
// chat messages (BAML's role and whitespace rules), or kept as text.
#include "llm/template.h"

#include "llm/template_eval.h"

namespace brake::llm {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) b++;
  while (e > b && is_space(s[e - 1])) e--;
  return s.substr(b, e - b);
}

void render_into(const Template& t, const RenderInput& in, tmpl::Sink& sink) {
  if (!in.program || !in.heap) throw RenderError("render_template: no program or heap given");
  try {
    tmpl::Renderer r(in, sink);
    r.run(t);
  } catch (const tmpl::FormatError& e) {
    throw RenderError(e.what());
  }
}

// The role a message ends up with: the client's default for a role it
// does not allow, then renamed by remap_roles.
std::string final_role(const std::string* asked, const ClientContext* client, const std::string& default_role) {
  std::string role = asked ? *asked : default_role;
  if (client && !client->allowed_roles.empty()) {
    bool allowed = false;
    for (const std::string& r : client->allowed_roles) allowed = allowed || r == role;
    if (!allowed) role = default_role;
  }
  if (client)
    for (const auto& [from, to] : client->remap_roles)
      if (from == role) {
        role = to;
        break;
      }
  return role;
}

} // namespace

RenderedPrompt render_template(const Template& t, const RenderInput& in, std::vector<MessageOptions>* options) {
  tmpl::Sink sink(tmpl::Sink::Mode::Prompt);
  render_into(t, in, sink);
  std::string default_role = in.client && !in.client->default_role.empty() ? in.client->default_role : "user";

  RenderedPrompt prompt;
  if (options) options->clear();
  if (sink.events.empty()) {
    PromptMessage m;
    m.role = default_role;
    PromptPart part;
    part.text = std::move(sink.text);
    m.parts.push_back(std::move(part));
    prompt.messages.push_back(std::move(m));
    if (options) options->emplace_back();
    return prompt;
  }

  prompt.chat = true;
  const std::string& text = sink.text;
  const tmpl::Sink::Event* role = nullptr; // the role call the current chunk follows (null: before any)
  size_t start = 0;
  size_t e = 0;
  const size_t n = sink.events.size();
  while (true) {
    // The chunk runs from `start` to the next role call (or the end).
    size_t end_event = e;
    while (end_event < n && !sink.events[end_event].is_role) end_event++;
    size_t end = end_event < n ? sink.events[end_event].at : text.size();
    if (role || end > start || end_event > e) { // a role, text, or media (a template of one image is a message)
      PromptMessage m;
      size_t at = start;
      auto add_text = [&](size_t upto) {
        std::string_view piece = trim(std::string_view(text).substr(at, upto - at));
        if (!piece.empty()) {
          PromptPart p;
          p.text = std::string(piece);
          m.parts.push_back(std::move(p));
        }
      };
      for (size_t k = e; k < end_event; k++) {
        add_text(sink.events[k].at);
        at = sink.events[k].at;
        PromptPart p;
        p.kind = PromptPart::Kind::Media;
        p.media = sink.events[k].media;
        m.parts.push_back(std::move(p));
      }
      add_text(end);
      if (!m.parts.empty()) {
        m.role = final_role(role ? &role->role : nullptr, in.client, default_role);
        prompt.messages.push_back(std::move(m));
        if (options) {
          MessageOptions o;
          if (role) {
            o.allow_duplicate_role = role->allow_duplicate_role;
            o.meta_json = role->meta_json;
          }
          options->push_back(std::move(o));
        }
      }
    }
    if (end_event >= n) break;
    role = &sink.events[end_event];
    start = end;
    e = end_event + 1;
  }
  return prompt;
}

std::string render_template_text(const Template& t, const RenderInput& in) {
  tmpl::Sink sink(tmpl::Sink::Mode::Text);
  render_into(t, in, sink);
  return std::move(sink.text);
}

std::string display_value(const vm::CompiledProgram& program, vm::Value v, const std::atomic<uint32_t>* cancel_state) {
  vm::CancelCheck cc(cancel_state);
  std::string out;
  try {
    tmpl::append_display(out, program, v, cc, nullptr);
  } catch (const tmpl::FormatError& e) {
    throw RenderError(e.what());
  }
  return out;
}

} // namespace brake::llm
