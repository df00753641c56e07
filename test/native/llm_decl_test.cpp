// llm_decl_test.cpp: client<llm> and retry_policy declarations, parsed and
// checked (lang/llm_decls.cpp): what a valid program's CompiledProgram holds,
// every compile error with its position, and the clients' orchestration
// plans (llm/plan.h): which client each attempt uses and the delay before it.
#include <string>

#include "llm/plan.h"
#include "test_util.h"
#include "vm/chunk.h"

using brake::llm::Provider;
using brake::llm::RetryPolicyInfo;

namespace {

std::shared_ptr<brake::vm::CompiledProgram> compile(const std::string& source) {
  return brake::vm::compile_program(source, "t.baml");
}

// "line:column message" lines of a program's errors (a function is added
// after the declarations: a program needs one).
std::string errors_of(const std::string& source) {
  auto p = compile(source + "\nfunction f() -> int { 1 }");
  std::string out;
  for (const auto& d : p->diagnostics.items())
    out += (out.empty() ? "" : "\n") + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) + " " + d.message;
  return out;
}

void expect_errors(const std::string& source, const std::string& expected, int line) {
  std::string got = errors_of(source);
  if (got != expected) {
    fprintf(stderr, "line %d:\n  expected: %s\n  got:      %s\n", line, expected.c_str(), got.c_str());
    CHECK(got == expected);
  }
}
#define ERRORS(source, expected) expect_errors(source, expected, __LINE__)

const char* kValid = R"(
retry_policy Constant {
  max_retries 3
  strategy { type constant_delay delay_ms 100 }
}
retry_policy Backoff {
  max_retries 2
  strategy {
    type exponential_backoff
    delay_ms 300
    multiplier 2
    max_delay_ms 5000
  }
}
retry_policy Defaults { max_retries 1 }
client<llm> GPT {
  provider openai
  retry_policy Constant
  options {
    model "gpt-4o-mini"
    api_key env.OPENAI_API_KEY
    temperature 0.2
    max_tokens 100
    headers { "x-team" "brake" "x-key" env.TEAM_KEY }
  }
}
client<llm> Local {
  provider "openai-generic"
  options { base_url "http://localhost:8000/v1" model "llama" }
}
client<llm> Claude {
  provider anthropic
  options { model "claude-3-5-haiku" api_key env.ANTHROPIC_API_KEY stop_sequences ["\n\n", "END"] }
}
client<llm> Both {
  provider fallback
  retry_policy Backoff
  options { strategy [GPT, Claude] }
}
client<llm> Spread {
  provider round-robin
  options { strategy [Both, Local] start 1 }
}
function f() -> int { 1 }
)";

} // namespace

BRAKE_TEST(a_valid_program_keeps_its_clients_and_policies) {
  auto p = compile(kValid);
  if (!p->diagnostics.empty()) fprintf(stderr, "%s\n", p->diagnostics.items()[0].message.c_str());
  CHECK(p->diagnostics.empty());
  CHECK_EQ_INT(p->retry_policies.size(), 3);
  const RetryPolicyInfo& c = p->retry_policies[0];
  CHECK(c.name == "Constant" && c.max_retries == 3 && c.strategy == RetryPolicyInfo::Strategy::ConstantDelay && c.delay_ms == 100);
  const RetryPolicyInfo& b = p->retry_policies[1];
  CHECK(b.strategy == RetryPolicyInfo::Strategy::ExponentialBackoff && b.delay_ms == 300 && b.multiplier == 2.0 &&
        b.max_delay_ms == 5000);
  const RetryPolicyInfo& d = p->retry_policies[2];
  CHECK(d.max_retries == 1 && d.delay_ms == 0); // no strategy: BAML's newer engine's defaults
  CHECK_EQ_INT(p->clients.size(), 5);
  CHECK(p->clients[0].name == "GPT" && p->clients[0].provider == Provider::OpenAI && p->clients[0].retry_policy == 0);
  CHECK(p->clients[0].options.entries.size() == 5);
  CHECK(p->clients[1].provider == Provider::OpenAIGeneric && p->clients[1].retry_policy == -1);
  CHECK(p->clients[2].provider == Provider::Anthropic);
  CHECK(p->clients[3].provider == Provider::Fallback && p->clients[3].retry_policy == 1);
  CHECK(p->clients[3].strategy == std::vector<uint32_t>({0, 2}));
  CHECK(p->clients[4].provider == Provider::RoundRobin && p->clients[4].start == 1);
  CHECK(p->clients[4].strategy == std::vector<uint32_t>({3, 1}));
}

BRAKE_TEST(every_mistake_is_a_compile_error_at_its_position) {
  ERRORS("client<llm> A { provider openai }\nclient<llm> A { provider openai }", "2:1 client 'A' is declared twice");
  ERRORS("client<llm> A { options { model \"x\" } }", "1:1 client 'A' needs a provider");
  ERRORS("client<llm> A { provider vertex-ai }",
         "1:26 provider 'vertex-ai' is not supported (brake runs openai, openai-generic, azure-openai, ollama, anthropic, "
         "fallback, round-robin)");
  ERRORS("client<llm> A { provider openai retry_policy Nope }", "1:46 unknown retry_policy 'Nope'");
  ERRORS("client<llm> A { provider openai color \"red\" }", "1:33 unknown client field 'color' (provider, retry_policy, options)");
  ERRORS("client<llm> A { provider openai options { model 4 } }", "1:49 model must be a string or env.NAME, not an integer");
  ERRORS("client<llm> A { provider openai options { api_key [1] } }", "1:51 api_key must be a string or env.NAME, not a list");
  ERRORS("client<llm> A { provider openai options { headers { \"x\" 1 } } }",
         "1:57 header 'x' must be a string or env.NAME, not an integer");
  ERRORS("client<llm> A { provider openai options { strategy [B] } }",
         "1:43 'strategy' is an option of fallback and round-robin clients, not of openai");
  ERRORS("client<llm> F { provider fallback }", "1:1 fallback client 'F' needs options { strategy [ClientA, ClientB] }");
  ERRORS("client<llm> F { provider fallback options { strategy [Ghost] } }", "1:55 unknown client 'Ghost' in strategy");
  ERRORS("client<llm> A { provider openai }\nclient<llm> R { provider round-robin options { strategy [A] start 2 } }",
         "2:1 start 2 is past the strategy's 1 clients");
  ERRORS("client<llm> F { provider fallback options { strategy [A] extra 1 } }\nclient<llm> A { provider openai }",
         "1:58 unknown fallback option 'extra' (strategy)");
  ERRORS("client<llm> X { provider fallback options { strategy [Y] } }\n"
         "client<llm> Y { provider round-robin options { strategy [X] } }",
         "1:1 client 'X' reaches itself through its strategy");
  ERRORS("retry_policy R { max_retries 1 initial_delay_ms 5 strategy { type constant_delay } }",
         "1:1 retry_policy 'R' gives both a strategy and initial_delay_ms/multiplier/max_delay_ms: one or the other");
  ERRORS("retry_policy R { max_retries -1 }", "1:30 max_retries must be a whole number from 0 to 100");
  ERRORS("retry_policy R { max_retries 1 strategy { type linear } }",
         "1:48 strategy needs a type: constant_delay or exponential_backoff");
  ERRORS("retry_policy R { max_retries 1 strategy { type constant_delay multiplier 2 } }",
         "1:63 unknown constant_delay field 'multiplier' (delay_ms)");
  ERRORS("retry_policy R { max_retries 1 strategy { type exponential_backoff multiplier 0 } }",
         "1:79 multiplier must be a number above 0 (at most 100)");
  ERRORS("retry_policy R { max_retries 1 tries 2 }",
         "1:32 unknown retry_policy field 'tries' (max_retries, strategy, or initial_delay_ms, multiplier, max_delay_ms)");
  ERRORS("retry_policy R { max_retries 1 }\nretry_policy R { max_retries 2 }", "2:1 retry_policy 'R' is declared twice");
}

namespace {

// The plan of `client` in `source`, as "Name:delay" steps joined by spaces.
std::string plan_of(const std::string& source, const std::string& client, const std::vector<uint64_t>* counters = nullptr) {
  auto p = compile(source + "\nfunction f() -> int { 1 }");
  if (!p->diagnostics.empty()) return "error: " + p->diagnostics.items()[0].message;
  for (uint32_t c = 0; c < p->clients.size(); c++) {
    if (p->clients[c].name != client) continue;
    std::string out;
    for (const auto& step : brake::llm::build_plan(p->clients, p->retry_policies, c, counters))
      out += (out.empty() ? "" : " ") + p->clients[step.client].name + ":" + std::to_string(step.delay_ms);
    return out;
  }
  return "no client " + client;
}

void expect_plan(const std::string& source, const std::string& client, const std::string& expected, int line,
                 const std::vector<uint64_t>* counters = nullptr) {
  std::string got = plan_of(source, client, counters);
  if (got != expected) {
    fprintf(stderr, "line %d: plan of %s\n  expected: %s\n  got:      %s\n", line, client.c_str(), expected.c_str(), got.c_str());
    CHECK(got == expected);
  }
}
#define PLAN(source, client, expected) expect_plan(source, client, expected, __LINE__)

const char* kTwo = "client<llm> A { provider openai }\nclient<llm> B { provider anthropic }\nclient<llm> C { provider ollama }\n";

} // namespace

BRAKE_TEST(plans_of_primitive_fallback_and_round_robin_clients) {
  std::string two = kTwo;
  PLAN(two, "A", "A:0");
  PLAN(two + "client<llm> F { provider fallback options { strategy [A, B, C] } }", "F", "A:0 B:0 C:0");
  std::string rr = two + "client<llm> R { provider round-robin options { strategy [A, B] } }";
  PLAN(rr, "R", "A:0");
  PLAN(two + "client<llm> R { provider round-robin options { strategy [A, B] start 1 } }", "R", "B:0");
  // The client's calls so far move the pick; building a plan moves nothing.
  std::vector<uint64_t> counters(4, 0);
  counters[3] = 1;
  expect_plan(rr, "R", "B:0", __LINE__, &counters);
  counters[3] = 2;
  expect_plan(rr, "R", "A:0", __LINE__, &counters);
  PLAN(rr, "R", "A:0");
  // Nested: the round-robin's one pick, then C.
  PLAN(rr + "client<llm> F { provider fallback options { strategy [R, C] } }", "F", "A:0 C:0");
}

BRAKE_TEST(retries_repeat_the_plan_with_their_delays) {
  std::string two = kTwo;
  // Flat form (BAML's newer engine): exponential from initial_delay_ms, capped.
  PLAN(two + "retry_policy X { max_retries 4 initial_delay_ms 100 multiplier 3 max_delay_ms 500 }\n"
             "client<llm> P { provider openai retry_policy X }",
       "P", "P:0 P:100 P:300 P:500 P:500");
  PLAN(two + "retry_policy Z { max_retries 2 }\nclient<llm> P { provider openai retry_policy Z }", "P", "P:0 P:0 P:0");
  // Strategy form (BAML's documentation): its defaults.
  PLAN(two + "retry_policy K { max_retries 2 strategy { type constant_delay } }\nclient<llm> P { provider openai retry_policy K }",
       "P", "P:0 P:200 P:200");
  PLAN(two + "retry_policy E { max_retries 3 strategy { type exponential_backoff } }\n"
             "client<llm> P { provider openai retry_policy E }",
       "P", "P:0 P:200 P:300 P:450");
  // A fallback's retry repeats all of it, every step of an attempt waiting its delay.
  PLAN(two + "retry_policy R { max_retries 1 initial_delay_ms 200 }\n"
             "client<llm> F { provider fallback retry_policy R options { strategy [A, B] } }",
       "F", "A:0 B:0 A:200 B:200");
  // A child's own retry stays inside it.
  PLAN("retry_policy I { max_retries 1 initial_delay_ms 50 }\nclient<llm> A { provider openai retry_policy I }\n"
       "client<llm> B { provider openai }\nclient<llm> F { provider fallback options { strategy [A, B] } }",
       "F", "A:0 A:50 B:0");
  // A retry moves a round-robin to its next child, also one nested in a fallback.
  PLAN(two + "retry_policy R { max_retries 1 initial_delay_ms 100 }\n"
             "client<llm> RR { provider round-robin retry_policy R options { strategy [A, B] } }",
       "RR", "A:0 B:100");
  PLAN(two + "retry_policy R { max_retries 1 initial_delay_ms 200 }\n"
             "client<llm> RR { provider round-robin options { strategy [A, B] } }\n"
             "client<llm> F { provider fallback retry_policy R options { strategy [RR, C] } }",
       "F", "A:0 C:0 B:200 C:200");
}

BRAKE_TEST(plans_past_the_limits_are_compile_errors) {
  std::string many = "retry_policy R { max_retries 100 }\nclient<llm> A { provider openai }\n"
                     "client<llm> F { provider fallback retry_policy R options { strategy [A, A, A, A, A, A, A, A, A, A, A] } }";
  ERRORS(many, "3:1 client 'F' can make more than 1024 attempts (its strategies and retries multiply)");
  std::string chain = "client<llm> C0 { provider openai }\n";
  for (int i = 1; i <= 34; i++)
    chain += "client<llm> C" + std::to_string(i) + " { provider fallback options { strategy [C" + std::to_string(i - 1) + "] } }\n";
  std::string got = errors_of(chain);
  CHECK(got.find("client 'C34' nests composite clients more than 32 levels deep") != std::string::npos);
  // Each client is counted once: a strategy naming the level below twice, 30
  // levels deep (2^30 paths), compiles at once; so does a chain of 5,000.
  std::string dag = "client<llm> D0 { provider openai }\n";
  for (int i = 1; i <= 30; i++)
    dag += "client<llm> D" + std::to_string(i) + " { provider round-robin options { strategy [D" + std::to_string(i - 1) +
           ", D" + std::to_string(i - 1) + "] } }\n";
  double t0 = now_ms();
  CHECK(errors_of(dag).empty());
  std::string longer = "client<llm> L0 { provider openai }\n";
  for (int i = 1; i <= 5000; i++)
    longer += "client<llm> L" + std::to_string(i) + " { provider fallback options { strategy [L" + std::to_string(i - 1) + "] } }\n";
  CHECK(!errors_of(longer).empty()); // (too deep, every level past 32: reported, no crash)
  CHECK(now_ms() - t0 < 5000);
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(a_valid_program_keeps_its_clients_and_policies),
      TEST_ENTRY(every_mistake_is_a_compile_error_at_its_position),
      TEST_ENTRY(plans_of_primitive_fallback_and_round_robin_clients),
      TEST_ENTRY(retries_repeat_the_plan_with_their_delays),
      TEST_ENTRY(plans_past_the_limits_are_compile_errors),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
