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

// A retry policy: max_retries more attempts after the first, attempt k (k >=
// 1) after a delay of min(delay_ms * multiplier^(k-1), max_delay_ms).
// Written two ways, each with its own defaults (both BAML's):
//   strategy { type constant_delay delay_ms N }                  BAML's documentation:
//   strategy { type exponential_backoff delay_ms N multiplier X    200 ms constant, or
//              max_delay_ms N }                                  200 ms x1.5 up to 10 s
//   initial_delay_ms N multiplier X max_delay_ms N (flat)        BAML's newer engine:
//                                                                0 ms x1.0 up to 60 s
struct RetryPolicyInfo {
  std::string name;
  uint32_t max_retries = 0;
  enum class Strategy : uint8_t { ConstantDelay, ExponentialBackoff } strategy = Strategy::ConstantDelay;
  uint64_t delay_ms = 0;
  double multiplier = 1.0;
  uint64_t max_delay_ms = 60000;

  // The delay before attempt `attempt` (0: none).
  uint64_t delay_before(uint32_t attempt) const;
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
