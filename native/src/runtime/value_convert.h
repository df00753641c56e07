// value_convert.h: brake_value (host side) <-> vm::Value (a call's heap).
#pragma once

#include <atomic>
#include <string>

#include "abi_value.h"
#include "vm/chunk.h"

namespace brake::runtime {

// Does host value `v` fit parameter type `t`? On false, `why` says how not.
// Hosts without int/float distinction may pass an int where a float is
// declared, and a FLOAT -0.0 where an int is declared (it is 0 there; such a
// host sends every -0 as a float so that its sign survives where a float is
// declared); a MAP may stand for a class instance (same field names) and a
// STRING for an enum variant (its name).
bool host_value_fits(const vm::CompiledProgram& p, const brake_value& v, lang::TypeId t, std::string& why);

// Converts a host value that fits `t` into the call's heap. With
// `cancel_state` (may be null) a large value's conversion looks at it as it
// goes (vm::Interrupted).
vm::Value to_vm(const vm::CompiledProgram& p, const brake_value& v, lang::TypeId t, vm::Heap& heap,
                const std::atomic<uint32_t>* cancel_state = nullptr);

// Values crossing the ABI are nested at most this deep (the Node binding
// refuses deeper arguments too): deeper trees would exhaust native stacks in
// every host's recursive conversions.
constexpr int kMaxValueDepth = 512;

// Converts a VM value into a new host value (cycles are cut: a value seen
// again on its own path becomes null), charging what it builds to `heap`
// (throws vm::MemoryLimitExceeded past the call's limit) and, every few
// thousand nodes, looking at `cancel_state` (may be null; the call's state
// word: vm::Interrupted once a cancel origin is set). Returns nullptr
// when the value is nested deeper than kMaxValueDepth.
ValuePtr from_vm(const vm::CompiledProgram& p, vm::Value v, vm::Heap& heap,
                 const std::atomic<uint32_t>* cancel_state = nullptr);

} // namespace brake::runtime
