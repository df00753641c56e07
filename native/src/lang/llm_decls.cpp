// llm_decls.cpp: checks a program's client<llm>, retry_policy and
// template_string declarations and its LLM functions, and leaves them
// resolved in CompiledProgram::clients, ::retry_policies, ::template_strings
// and ::llm_functions (with "provider/model" shorthands as clients of their
// own, and every prompt compiled). Every problem is a compile error at its
// position: duplicate names, an unknown or unsupported provider, an unknown
// retry policy, strategy client or function client, a cycle among composite
// clients, option values of the wrong kind, unknown keys where the set is
// closed, and the templates' own errors.
#include "lang/llm_decls.h"

#include "llm/plan.h"
#include "llm/template.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace brake::llm {

namespace {
struct ProviderName {
  const char* name;
  Provider provider;
};
constexpr ProviderName kProviders[] = {
    {"openai", Provider::OpenAI},         {"openai-generic", Provider::OpenAIGeneric},
    {"azure-openai", Provider::AzureOpenAI}, {"ollama", Provider::Ollama},
    {"anthropic", Provider::Anthropic},   {"fallback", Provider::Fallback},
    {"round-robin", Provider::RoundRobin},
};
} // namespace

const char* provider_name(Provider p) {
  for (const auto& n : kProviders)
    if (n.provider == p) return n.name;
  return "?";
}

bool provider_from_name(const std::string& name, Provider& out) {
  for (const auto& n : kProviders)
    if (name == n.name) {
      out = n.provider;
      return true;
    }
  return false;
}

} // namespace brake::llm

namespace brake::lang {

namespace {

using Kind = ConfigValue::Kind;

const char* kind_name(Kind k) {
  switch (k) {
  case Kind::String: return "a string";
  case Kind::Int: return "an integer";
  case Kind::Float: return "a number";
  case Kind::Bool: return "true or false";
  case Kind::Env: return "env.NAME";
  case Kind::Word: return "a word";
  case Kind::List: return "a list";
  case Kind::Block: return "a block";
  }
  return "a value";
}

class LlmChecker {
public:
  LlmChecker(const Program& ast, vm::CompiledProgram& out) : m_ast(ast), m_out(out) {}

  void run() {
    for (const RetryPolicyDecl& d : m_ast.retry_policies) declare_policy(d);
    for (size_t i = 0; i < m_ast.clients.size(); i++) {
      const ClientDecl& d = m_ast.clients[i];
      if (!m_clients.emplace(d.name, uint32_t(i)).second) error(d.loc, "client '" + d.name + "' is declared twice");
      llm::ClientInfo info;
      info.name = d.name;
      info.loc = d.loc;
      m_out.clients.push_back(std::move(info));
    }
    declare_shorthands();
    for (size_t i = 0; i < m_ast.clients.size(); i++) check_client(m_ast.clients[i], m_out.clients[i]);
    if (!find_cycles()) check_plan_sizes();
    for (size_t i = 0; i < m_ast.functions.size(); i++)
      if (m_ast.functions[i].llm) declare_llm_function(m_ast.functions[i], uint32_t(i));
    compile_templates();
  }

  // Every client's plan stays within the limits (plans are built per call).
  void check_plan_sizes() {
    std::vector<llm::PlanBounds> bounds = llm::plan_bounds(m_out.clients, m_out.retry_policies);
    for (uint32_t c = 0; c < m_out.clients.size(); c++) {
      const llm::PlanBounds& b = bounds[c];
      if (b.depth > llm::kMaxClientNesting)
        error(m_out.clients[c].loc, "client '" + m_out.clients[c].name + "' nests composite clients more than " +
                                        std::to_string(llm::kMaxClientNesting) + " levels deep");
      else if (b.steps > llm::kMaxPlanSteps)
        error(m_out.clients[c].loc, "client '" + m_out.clients[c].name + "' can make more than " +
                                        std::to_string(llm::kMaxPlanSteps) + " attempts (its strategies and retries multiply)");
    }
  }

private:
  void error(SourceLoc loc, std::string message) { m_out.diagnostics.error(loc, std::move(message)); }

  // "provider/model" written where a client is named (a function's client,
  // a strategy's entry): a client of that provider with options { model
  // "model" }, one per distinct text, after the declared clients.
  void declare_shorthands() {
    for (const ClientDecl& d : m_ast.clients)
      for (const auto& e : d.body.entries)
        if (e.key == "options" && e.value.kind == Kind::Block)
          for (const auto& o : e.value.entries)
            if (o.key == "strategy" && o.value.kind == Kind::List)
              for (const ConfigValue& item : o.value.items)
                if (item.kind == Kind::String && item.text.find('/') != std::string::npos) declare_shorthand(item.text, item.loc);
    for (const FunctionDecl& f : m_ast.functions)
      if (f.llm && f.llm->shorthand) declare_shorthand(f.llm->client, f.llm->client_loc);
  }

  void declare_shorthand(const std::string& text, SourceLoc loc) {
    if (m_clients.count(text)) return;
    size_t slash = text.find('/');
    llm::ClientInfo info;
    info.name = text;
    info.loc = loc;
    std::string provider = slash == std::string::npos ? text : text.substr(0, slash);
    std::string model = slash == std::string::npos ? "" : text.substr(slash + 1);
    if (model.empty() || !llm::provider_from_name(provider, info.provider) || llm::is_composite(info.provider)) {
      error(loc, "'" + text + "' is not a client: write \"provider/model\" with a provider brake runs (openai, "
                 "openai-generic, azure-openai, ollama, anthropic), or a client's name");
      return;
    }
    info.options.kind = Kind::Block;
    info.options.loc = loc;
    ConfigValue::Entry entry;
    entry.key = "model";
    entry.loc = loc;
    entry.value.kind = Kind::String;
    entry.value.loc = loc;
    entry.value.text = model;
    info.options.entries.push_back(std::move(entry));
    m_clients.emplace(text, uint32_t(m_out.clients.size()));
    m_out.clients.push_back(std::move(info));
  }

  // template_strings, then each LLM function's prompt: compiled once (their
  // errors at their positions), with the parameters, the template_strings
  // and the program's enums in scope.
  void compile_templates() {
    llm::TemplateScope base;
    for (const vm::EnumInfo& e : m_out.enums) base.enums.push_back(e.name);
    std::unordered_set<std::string> names;
    for (const TemplateStringDecl& t : m_ast.template_strings) {
      if (!names.insert(t.name).second) error(t.loc, "template_string '" + t.name + "' is declared twice");
      base.template_strings.emplace_back(t.name, t.params.size());
    }
    auto defs = std::make_shared<std::vector<llm::TemplateStringDef>>();
    for (const TemplateStringDecl& t : m_ast.template_strings) {
      llm::TemplateScope scope = base;
      llm::TemplateStringDef def;
      def.name = t.name;
      for (const Param& p : t.params) def.params.push_back(p.name);
      scope.variables = def.params;
      def.body = llm::compile_template(t.text, t.text_loc, scope, m_out.diagnostics);
      defs->push_back(std::move(def));
    }
    m_out.template_strings = std::move(defs);
    for (size_t i = 0; i < m_ast.functions.size(); i++) {
      const FunctionDecl& f = m_ast.functions[i];
      if (!f.llm) continue;
      llm::TemplateScope scope = base;
      for (const Param& p : f.params) scope.variables.push_back(p.name);
      auto prompt = llm::compile_template(f.llm->prompt, f.llm->prompt_loc, scope, m_out.diagnostics);
      if (m_out.functions[i].llm >= 0) m_out.llm_functions[size_t(m_out.functions[i].llm)].prompt = std::move(prompt);
    }
  }

  // function F(...) -> T { client C prompt #"..."# }: its client resolved.
  void declare_llm_function(const FunctionDecl& f, uint32_t index) {
    auto it = m_clients.find(f.llm->client);
    if (it == m_clients.end()) {
      if (!f.llm->shorthand) error(f.llm->client_loc, "unknown client '" + f.llm->client + "'");
      return; // a bad shorthand was reported by declare_shorthand
    }
    vm::LlmFunctionInfo info;
    info.function = index;
    info.client = it->second;
    m_out.functions[index].llm = int32_t(m_out.llm_functions.size());
    m_out.llm_functions.push_back(std::move(info));
  }

  // A whole number >= 0 (and <= max), or an error.
  bool whole(const ConfigValue& v, const std::string& what, uint64_t max, uint64_t& out) {
    if (v.kind != Kind::Int || v.int_value < 0 || uint64_t(v.int_value) > max) {
      error(v.loc, what + " must be a whole number from 0 to " + std::to_string(max));
      return false;
    }
    out = uint64_t(v.int_value);
    return true;
  }

  // retry_policy NAME { max_retries N strategy { type constant_delay|exponential_backoff delay_ms N multiplier X max_delay_ms N } }
  void declare_policy(const RetryPolicyDecl& d) {
    llm::RetryPolicyInfo p;
    p.name = d.name;
    if (!m_policies.emplace(d.name, uint32_t(m_out.retry_policies.size())).second)
      error(d.loc, "retry_policy '" + d.name + "' is declared twice");
    const ConfigValue* strategy = nullptr;
    bool flat = false;
    for (const auto& e : d.body.entries) {
      uint64_t n = 0;
      if (e.key == "max_retries") {
        if (whole(e.value, "max_retries", 100, n)) p.max_retries = uint32_t(n);
      } else if (e.key == "strategy") {
        strategy = &e.value;
      } else if (e.key == "initial_delay_ms" || e.key == "max_delay_ms" || e.key == "multiplier") {
        flat = true;
        delay_field(e, p);
      } else {
        error(e.loc, "unknown retry_policy field '" + e.key + "' (max_retries, strategy, or initial_delay_ms, multiplier, max_delay_ms)");
      }
    }
    if (strategy && flat) error(d.loc, "retry_policy '" + d.name + "' gives both a strategy and initial_delay_ms/multiplier/max_delay_ms: one or the other");
    else if (strategy) check_strategy(*strategy, p);
    if (p.multiplier != 1.0) p.strategy = llm::RetryPolicyInfo::Strategy::ExponentialBackoff;
    m_out.retry_policies.push_back(std::move(p));
  }

  // max_delay_ms, multiplier, or (flat form) initial_delay_ms.
  void delay_field(const ConfigValue::Entry& e, llm::RetryPolicyInfo& p) {
    uint64_t n = 0;
    if (e.key == "multiplier") {
      double m = e.value.kind == Kind::Int ? double(e.value.int_value) : e.value.kind == Kind::Float ? e.value.float_value : -1;
      if (!(m > 0) || !std::isfinite(m) || m > 100) error(e.value.loc, "multiplier must be a number above 0 (at most 100)");
      else p.multiplier = m;
    } else if (whole(e.value, e.key, 3600000, n)) {
      (e.key == "max_delay_ms" ? p.max_delay_ms : p.delay_ms) = n;
    }
  }

  void check_strategy(const ConfigValue& v, llm::RetryPolicyInfo& p) {
    if (v.kind != Kind::Block) {
      error(v.loc, "strategy must be a block { type ... }");
      return;
    }
    const ConfigValue* type = nullptr;
    for (const auto& e : v.entries)
      if (e.key == "type") type = &e.value;
    if (!type || type->kind != Kind::Word || (type->text != "constant_delay" && type->text != "exponential_backoff")) {
      error(type ? type->loc : v.loc, "strategy needs a type: constant_delay or exponential_backoff");
      return;
    }
    bool exponential = type->text == "exponential_backoff";
    // BAML's documented defaults for the strategy form.
    p.strategy = exponential ? llm::RetryPolicyInfo::Strategy::ExponentialBackoff : llm::RetryPolicyInfo::Strategy::ConstantDelay;
    p.delay_ms = 200;
    p.multiplier = exponential ? 1.5 : 1.0;
    p.max_delay_ms = exponential ? 10000 : 200;
    for (const auto& e : v.entries) {
      uint64_t n = 0;
      if (e.key == "type") continue;
      if (e.key == "delay_ms") {
        if (whole(e.value, "delay_ms", 3600000, n)) p.delay_ms = n;
        if (!exponential) p.max_delay_ms = p.delay_ms;
      } else if (exponential && (e.key == "max_delay_ms" || e.key == "multiplier")) {
        delay_field(e, p);
      } else {
        error(e.loc, "unknown " + type->text + " field '" + e.key + "' (" +
                         (exponential ? "delay_ms, multiplier, max_delay_ms" : "delay_ms") + ")");
      }
    }
  }

  // client<llm> NAME { provider P retry_policy R options { ... } }
  void check_client(const ClientDecl& d, llm::ClientInfo& info) {
    const ConfigValue* provider = nullptr;
    info.options.kind = Kind::Block;
    info.options.loc = d.loc;
    for (const auto& e : d.body.entries) {
      if (e.key == "provider") {
        provider = &e.value;
      } else if (e.key == "retry_policy") {
        if (e.value.kind != Kind::Word && e.value.kind != Kind::String) {
          error(e.value.loc, "retry_policy must name a retry_policy");
          continue;
        }
        auto it = m_policies.find(e.value.text);
        if (it == m_policies.end()) error(e.value.loc, "unknown retry_policy '" + e.value.text + "'");
        else info.retry_policy = int32_t(it->second);
      } else if (e.key == "options") {
        if (e.value.kind != Kind::Block) error(e.value.loc, "options must be a block { ... }");
        else info.options = e.value;
      } else {
        error(e.loc, "unknown client field '" + e.key + "' (provider, retry_policy, options)");
      }
    }
    if (!provider) {
      error(d.loc, "client '" + d.name + "' needs a provider");
      return;
    }
    if ((provider->kind != Kind::Word && provider->kind != Kind::String) ||
        !llm::provider_from_name(provider->text, info.provider)) {
      std::string names;
      for (auto p : {llm::Provider::OpenAI, llm::Provider::OpenAIGeneric, llm::Provider::AzureOpenAI, llm::Provider::Ollama,
                     llm::Provider::Anthropic, llm::Provider::Fallback, llm::Provider::RoundRobin})
        names += std::string(names.empty() ? "" : ", ") + llm::provider_name(p);
      error(provider->loc, "provider '" + provider->text + "' is not supported (brake runs " + names + ")");
      return;
    }
    if (llm::is_composite(info.provider)) check_composite(d, info);
    else check_primitive(info);
  }

  // fallback / round-robin: options { strategy [A, B] start N }
  void check_composite(const ClientDecl& d, llm::ClientInfo& info) {
    const ConfigValue* strategy = nullptr;
    for (const auto& e : info.options.entries) {
      if (e.key == "strategy") {
        strategy = &e.value;
      } else if (e.key == "start" && info.provider == llm::Provider::RoundRobin) {
        uint64_t n = 0;
        if (whole(e.value, "start", 1u << 20, n)) info.start = uint32_t(n);
      } else {
        error(e.loc, std::string("unknown ") + llm::provider_name(info.provider) + " option '" + e.key + "' (" +
                         (info.provider == llm::Provider::RoundRobin ? "strategy, start" : "strategy") + ")");
      }
    }
    if (!strategy || strategy->kind != Kind::List || strategy->items.empty()) {
      error(strategy ? strategy->loc : d.loc, std::string(llm::provider_name(info.provider)) + " client '" + d.name +
                                                   "' needs options { strategy [ClientA, ClientB] }");
      return;
    }
    for (const ConfigValue& item : strategy->items) {
      auto it = (item.kind == Kind::Word || item.kind == Kind::String) ? m_clients.find(item.text) : m_clients.end();
      if (it == m_clients.end() && item.kind == Kind::String && item.text.find('/') != std::string::npos) continue; // reported
      if (it == m_clients.end()) {
        error(item.loc, item.kind == Kind::Word || item.kind == Kind::String ? "unknown client '" + item.text + "' in strategy"
                                                                             : "a strategy lists clients by name");
        continue;
      }
      info.strategy.push_back(it->second);
    }
    if (info.provider == llm::Provider::RoundRobin && !info.strategy.empty() && info.start >= info.strategy.size())
      error(d.loc, "start " + std::to_string(info.start) + " is past the strategy's " + std::to_string(info.strategy.size()) +
                       " clients");
  }

  // A provider's options: the ones the client keeps must have the right
  // kind; the rest go to the request body as they are.
  void check_primitive(llm::ClientInfo& info) {
    for (const auto& e : info.options.entries) {
      const ConfigValue& v = e.value;
      if (e.key == "model" || e.key == "deployment_id" || e.key == "api_version" || e.key == "resource_name") {
        if (v.kind != Kind::String && v.kind != Kind::Word && v.kind != Kind::Env)
          error(v.loc, e.key + " must be a string or env.NAME, not " + kind_name(v.kind));
      } else if (e.key == "api_key" || e.key == "base_url") {
        if (v.kind != Kind::String && v.kind != Kind::Env) error(v.loc, e.key + " must be a string or env.NAME, not " + kind_name(v.kind));
      } else if (e.key == "headers") {
        if (v.kind != Kind::Block) {
          error(v.loc, "headers must be a block { \"name\" \"value\" }");
          continue;
        }
        for (const auto& h : v.entries)
          if (h.value.kind != Kind::String && h.value.kind != Kind::Env)
            error(h.value.loc, "header '" + h.key + "' must be a string or env.NAME, not " + kind_name(h.value.kind));
      } else if (e.key == "strategy" || e.key == "start") {
        error(e.loc, "'" + e.key + "' is an option of fallback and round-robin clients, not of " + llm::provider_name(info.provider));
      }
    }
  }

  // Composite clients that reach themselves through their strategies;
  // returns whether there was one.
  bool find_cycles() {
    enum class Mark : uint8_t { None, Active, Done };
    std::vector<Mark> marks(m_out.clients.size(), Mark::None);
    std::vector<uint32_t> path;
    std::unordered_set<uint32_t> reported;
    // Iterative depth-first search (a program may declare many clients).
    for (uint32_t root = 0; root < m_out.clients.size(); root++) {
      if (marks[root] != Mark::None) continue;
      std::vector<std::pair<uint32_t, size_t>> stack{{root, 0}};
      marks[root] = Mark::Active;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        const auto& children = m_out.clients[node].strategy;
        if (next == children.size()) {
          marks[node] = Mark::Done;
          stack.pop_back();
          continue;
        }
        uint32_t child = children[next++];
        if (marks[child] == Mark::Active) {
          if (reported.insert(child).second)
            error(m_out.clients[child].loc, "client '" + m_out.clients[child].name + "' reaches itself through its strategy");
        } else if (marks[child] == Mark::None) {
          marks[child] = Mark::Active;
          stack.emplace_back(child, 0);
        }
      }
    }
    return !reported.empty();
  }

  const Program& m_ast;
  vm::CompiledProgram& m_out;
  std::unordered_map<std::string, uint32_t> m_clients;
  std::unordered_map<std::string, uint32_t> m_policies;
};

} // namespace

void check_llm_declarations(const Program& ast, vm::CompiledProgram& out) { LlmChecker(ast, out).run(); }

} // namespace brake::lang
