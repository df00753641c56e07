// client.h: a program's LLM clients and retry policies, as the checker
// leaves them (lang/llm_decls.cpp): names resolved to indexes, providers and
// strategies checked. What the orchestrator and the providers will run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lang/ast.h"

namespace brake::llm {

enum class Provider : uint8_t { OpenAI, OpenAIGeneric, AzureOpenAI, Ollama, Anthropic, Fallback, RoundRobin };

// The provider names BAML programs use, and which of them brake runs.
const char* provider_name(Provider p);
bool provider_from_name(const std::string& name, Provider& out);
inline bool is_composite(Provider p) { return p == Provider::Fallback || p == Provider::RoundRobin; }

struct RetryPolicyInfo {
  std::string name;
  uint32_t max_retries = 0;
  enum class Strategy : uint8_t { ConstantDelay, ExponentialBackoff } strategy = Strategy::ConstantDelay;
  // Defaults as BAML's documentation gives them: constant 200 ms; exponential
  // 200 ms, x1.5, at most 10 s.
  uint64_t delay_ms = 200;
  double multiplier = 1.5;
  uint64_t max_delay_ms = 10000;
};

struct ClientInfo {
  std::string name;
  lang::SourceLoc loc;
  Provider provider = Provider::OpenAI;
  int32_t retry_policy = -1;          // index into retry_policies, or -1
  lang::ConfigValue options;           // a Block (empty when the client gave none)
  std::vector<uint32_t> strategy;      // composite: its clients, by index
  uint32_t start = 0;                  // round-robin: the first child
};

} // namespace brake::llm
