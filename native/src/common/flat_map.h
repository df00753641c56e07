// flat_map.h: an insert-only hash map in one array (open addressing, linear
// probing), for the VM's walks over large values (deep comparisons, copies
// and type checks remember millions of object pairs). Unlike
// std::unordered_map it frees in one step: a walk that a cancel interrupts
// leaves nothing that takes long to destroy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace brake {

// Key must be trivially copyable and equality-comparable, and `empty` a
// key never inserted.
template <typename Key, typename Value, typename Hash> class FlatMap {
public:
  explicit FlatMap(Key empty) : m_empty(empty) {}

  // The value of `key`, or nullptr.
  Value* find(const Key& key) {
    if (m_slots.empty()) return nullptr;
    for (size_t i = Hash()(key) & m_mask;; i = (i + 1) & m_mask) {
      if (m_slots[i].first == key) return &m_slots[i].second;
      if (m_slots[i].first == m_empty) return nullptr;
    }
  }

  // Inserts key -> value unless the key is there; returns the stored value
  // and whether it was inserted.
  std::pair<Value*, bool> insert(const Key& key, const Value& value) {
    if ((m_size + 1) * 2 > m_slots.size()) grow();
    for (size_t i = Hash()(key) & m_mask;; i = (i + 1) & m_mask) {
      if (m_slots[i].first == key) return {&m_slots[i].second, false};
      if (m_slots[i].first == m_empty) {
        m_slots[i] = {key, value};
        m_size++;
        return {&m_slots[i].second, true};
      }
    }
  }

  size_t size() const { return m_size; }

private:
  void grow() {
    std::vector<std::pair<Key, Value>> old;
    old.swap(m_slots);
    size_t n = old.empty() ? 64 : old.size() * 2;
    m_slots.assign(n, {m_empty, Value()});
    m_mask = n - 1;
    m_size = 0;
    for (auto& slot : old)
      if (!(slot.first == m_empty)) insert(slot.first, slot.second);
  }

  Key m_empty;
  std::vector<std::pair<Key, Value>> m_slots;
  size_t m_mask = 0;
  size_t m_size = 0;
};

// A hash for pointers and pairs of pointer-sized keys (mixes the bits:
// objects are 16-byte aligned, and linear probing needs the low bits).
struct PointerPairHash {
  static size_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return size_t(x);
  }
  static uint64_t bits(const void* p) { return uint64_t(uintptr_t(p)); }
  static uint64_t bits(int64_t v) { return uint64_t(v); }
  template <typename A, typename B> size_t operator()(const std::pair<A, B>& p) const {
    return mix(bits(p.first) * 0x9E3779B97F4A7C15ull ^ bits(p.second));
  }
  size_t operator()(const void* p) const { return mix(bits(p)); }
};

} // namespace brake
