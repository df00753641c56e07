#include "runtime/call_table.h"

namespace brake::runtime {

bool CallTable::insert(Call* call) {
  Shard& s = shard(call->id);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.calls.emplace(call->id, call).second) return false;
  }
  call->retain();
  m_size.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

Call* CallTable::find(brake_call_id id) {
  Shard& s = shard(id);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.calls.find(id);
  if (it == s.calls.end()) return nullptr;
  it->second->retain();
  return it->second;
}

void CallTable::remove(Call* call) {
  Shard& s = shard(call->id);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.calls.erase(call->id);
  }
  m_size.fetch_sub(1, std::memory_order_acq_rel);
  call->release();
}

} // namespace brake::runtime
