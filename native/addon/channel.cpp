#include "channel.h"

#include <new>

#include "engine_wrap.h"

namespace brake_addon {

namespace {
thread_local InlineDelivery* t_delivery = nullptr;
}  // namespace

void release_channel(Channel* c) {
  if (--c->refs == 0) delete c;
}

void signal_channel(Channel* c) {
  std::lock_guard<std::mutex> lock(c->mu);
  if (c->tsfn) napi_call_threadsafe_function(c->tsfn, nullptr, napi_tsfn_nonblocking);
}

void channel_notify(void* arg) {
  Channel* c = static_cast<Channel*>(arg);
  if (!InlineDelivery::record(c)) signal_channel(c);
}

void channel_finalize(napi_env, void* finalize_data, void*) {
  Channel* c = static_cast<Channel*>(finalize_data);
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->tsfn = nullptr;
  }
  release_channel(c);
}

InlineDelivery::InlineDelivery() : m_outer(t_delivery) { t_delivery = this; }

InlineDelivery::~InlineDelivery() { deliver(nullptr); }

bool InlineDelivery::record(Channel* c) {
  InlineDelivery* d = t_delivery;
  if (!d) return false;
  for (Channel* seen : d->m_channels)
    if (seen == c) return true;
  try {
    d->m_channels.push_back(c);
  } catch (const std::bad_alloc&) {
    return false;  // signalled instead
  }
  c->refs++;
  return true;
}

// Closes the delivery (once) and drains each recorded engine; with no env
// (or an engine that cannot drain now) it signals the channel instead.
void InlineDelivery::deliver(napi_env env) {
  if (t_delivery != this) return;  // delivered already
  t_delivery = m_outer;
  for (Channel* c : m_channels) {
    if (!env || !c->wrap || !c->wrap->drain(env, false)) signal_channel(c);
    release_channel(c);
  }
  m_channels.clear();
}

}  // namespace brake_addon
