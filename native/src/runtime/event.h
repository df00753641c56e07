// event.h: what flows from an engine to its host, in one queue per engine
// (DESIGN §6): call completions, host-function calls and their cancels, stream events. A
// call's events are queued in the order they happened (its host calls and
// cancels before its completion), so a host sees them in that order.
#pragma once

#include <cstdint>

namespace brake::runtime {

struct Call;
class CallStream;
struct HostOperation;

struct Event {
  enum class Kind : uint8_t {
    Completion, // call: finished; run its completion callback (holds the table's reference)
    HostCall,   // op: a script called a host function (holds a reference)
    HostCancel, // op: the call stopped waiting for it (holds a reference)
    Stream,     // stream: a call's stream events are pending (holds a reference; call_stream.h)
  };
  Kind kind;
  union {
    Call* call;
    HostOperation* op;
    CallStream* stream;
  };

  static Event completion(Call* c) {
    Event e;
    e.kind = Kind::Completion;
    e.call = c;
    return e;
  }
  static Event stream_of(CallStream* s) {
    Event e;
    e.kind = Kind::Stream;
    e.stream = s;
    return e;
  }
  static Event host(Kind k, HostOperation* o) {
    Event e;
    e.kind = k;
    e.op = o;
    return e;
  }
};

} // namespace brake::runtime
