// slice.h: the encoding of one slice of events for lib (the contract with
// lib/engine.ts; see lib/native-types.ts).
//
// lib hands the addon two typed arrays at construction: meta (Int32Array,
// 2 * kCapacity) and nums (Float64Array, kCapacity). For event k:
//   meta[2k]   = lib's slot for the event's call (the call's user_data);
//                -1 for a host cancel
//   meta[2k+1] = kind << 24 | ..., by kind:
//     completion  status | origin << 8 | rep << 16, where rep says where the
//                 payload is: kRepValue = the next element of `values`,
//                 kRepNumber = nums[k], kRepTrue/kRepFalse/kRepNull = that
//                 constant. A failure's nums[k] is its call id (NaN: the id
//                 is a bigint in `values`, before the payload), and its
//                 payload [message, kind, frames, code?].
//     host call   argc << 16 | the host function's index (16 bits);
//                 nums[k] = the operation id; `values` gets the argc
//                 arguments (lib knows the call's id by its slot).
//     host cancel origin << 8; nums[k] = the operation id.
//     stream      the call's stream events delivered together: `values`
//                 gets one array of them, each as [1 (attempt), function,
//                 client, number], [2 (delta), text] or [3 (partial),
//                 value], flattened (consecutive events of one call share
//                 the entry).
// Results that are numbers, booleans or null, and cancellations, create no
// JS value at all: only stores into the typed arrays.
#pragma once

#include <string>
#include <vector>

#include "addon.h"

namespace brake_addon {

class Slice {
 public:
  static constexpr size_t kCapacity = 2048;
  enum Kind : int32_t { kCompletion = 0, kHostCall = 1, kHostCancel = 2, kStream = 3 };
  enum Rep : int32_t { kRepValue = 0, kRepNumber = 1, kRepTrue = 2, kRepFalse = 3, kRepNull = 4 };

  // Takes lib's typed arrays (false when they are not of the right types and sizes).
  bool attach(napi_env env, napi_value meta, napi_value nums);
  void reset() {
    m_count = 0;
    m_values.clear();
    m_stream = nullptr;
  }
  size_t count() const { return m_count; }
  // The payloads as one JS array, or nullptr when there are none.
  napi_value values(napi_env env) const;
  std::vector<napi_value>& payloads() { return m_values; }

  void completion(napi_env env, AddonData* data, void* user_data, const brake_result* r);
  // False (nothing added, *why says why) when an argument has no JS value.
  bool host_call(napi_env env, AddonData* data, const brake_host_call* c, std::string* why);
  void host_cancel(brake_op_id op, brake_origin origin);
  void stream(napi_env env, AddonData* data, void* user_data, const brake_stream_event* ev);

 private:
  void put(int32_t slot, int32_t code) {
    m_meta[2 * m_count] = slot;
    m_meta[2 * m_count + 1] = code;
    m_count++;
  }
  void put_failure(napi_env env, int32_t slot, const brake_result* r, int32_t status, const char* kind,
                   const char* message, bool with_frames, napi_value thrown = nullptr);

  int32_t* m_meta = nullptr;  // 2 * kCapacity
  double* m_nums = nullptr;   // kCapacity
  size_t m_count = 0;
  std::vector<napi_value> m_values;
  // The array of the last stream entry, and its length.
  napi_value m_stream = nullptr;
  uint32_t m_stream_length = 0;
};

}  // namespace brake_addon
