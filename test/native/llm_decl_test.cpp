// llm_decl_test.cpp: client<llm> and retry_policy declarations, parsed and
// checked (lang/llm_decls.cpp): what a valid program's CompiledProgram holds,
// and every compile error with its position.
#include <string>

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
  CHECK(d.max_retries == 1 && d.strategy == RetryPolicyInfo::Strategy::ConstantDelay && d.delay_ms == 200); // BAML's documented default
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
  ERRORS("retry_policy R { strategy { type constant_delay } }", "1:1 retry_policy 'R' needs max_retries");
  ERRORS("retry_policy R { max_retries -1 }", "1:30 max_retries must be a whole number from 0 to 100");
  ERRORS("retry_policy R { max_retries 1 strategy { type linear } }",
         "1:48 strategy needs a type: constant_delay or exponential_backoff");
  ERRORS("retry_policy R { max_retries 1 strategy { type constant_delay multiplier 2 } }",
         "1:63 unknown constant_delay field 'multiplier' (delay_ms)");
  ERRORS("retry_policy R { max_retries 1 strategy { type exponential_backoff multiplier 0 } }",
         "1:79 multiplier must be a number above 0 (at most 100)");
  ERRORS("retry_policy R { max_retries 1 tries 2 }", "1:32 unknown retry_policy field 'tries' (max_retries, strategy)");
  ERRORS("retry_policy R { max_retries 1 }\nretry_policy R { max_retries 2 }", "2:1 retry_policy 'R' is declared twice");
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(a_valid_program_keeps_its_clients_and_policies),
      TEST_ENTRY(every_mistake_is_a_compile_error_at_its_position),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
