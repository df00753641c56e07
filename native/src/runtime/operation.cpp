#include "runtime/operation.h"

#include "runtime/call.h"

namespace brake::runtime {

Operation::~Operation() {
  if (call) call->release();
}

void OperationTable::insert(Operation* op) {
  Shard& s = shard(op->id);
  std::lock_guard<std::mutex> lock(s.mu);
  s.ops.emplace(op->id, op);
  op->retain(); // only once inserted: a failed insert leaks nothing
}

Operation* OperationTable::find(uint64_t id) {
  Shard& s = shard(id);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.ops.find(id);
  if (it == s.ops.end()) return nullptr;
  it->second->retain();
  return it->second;
}

void OperationTable::remove(Operation* op) {
  Shard& s = shard(op->id);
  bool removed;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    removed = s.ops.erase(op->id) > 0;
  }
  if (removed) op->release();
}

size_t OperationTable::size() const {
  size_t n = 0;
  for (const Shard& s : m_shards) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.ops.size();
  }
  return n;
}

} // namespace brake::runtime
