#include "vm/interpreter.h"

#include "common/flat_map.h"
#include "common/utf8.h"
#include "vm/builtins.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <optional>

namespace brake::vm {

namespace {
// The handler addresses, published by run() in describe mode: one per
// opcode, then (at index COUNT_) the handler that yields.
const void* const* g_normal = nullptr;

void ensure_tables() {
  static const bool published = [] {
    CompiledProgram program("<dispatch tables>");
    program.functions.emplace_back();
    Fiber fiber(program, 0, 1);
    fiber.run(RunContext{}); // a context without a table: describe only
    return true;
  }();
  (void)published;
}

// The entries interrupt() redirects: every loop back-edge and every call.
constexpr size_t kPolled[] = {size_t(OpCode::LOOP), size_t(OpCode::CALL), size_t(OpCode::CALL_VALUE), size_t(OpCode::CALL_CHECKED)};
} // namespace

DispatchTable::DispatchTable() {
  ensure_tables();
  for (size_t i = 0; i < size_t(OpCode::COUNT_); i++) m_entries[i].store(g_normal[i], std::memory_order_relaxed);
}

void DispatchTable::interrupt() {
  for (size_t op : kPolled) m_entries[op].store(g_normal[size_t(OpCode::COUNT_)], std::memory_order_relaxed);
}

void DispatchTable::reset() {
  for (size_t op : kPolled) m_entries[op].store(g_normal[op], std::memory_order_relaxed);
}

bool DispatchTable::interrupted() const {
  for (size_t op : kPolled)
    if (m_entries[op].load(std::memory_order_relaxed) != g_normal[op]) return true;
  return false;
}

namespace {
const char* tag_name(Tag t) {
  switch (t) {
  case Tag::Null: return "null";
  case Tag::Bool: return "bool";
  case Tag::Int: return "int";
  case Tag::Float: return "float";
  case Tag::Enum: return "enum";
  case Tag::String: return "string";
  case Tag::Array: return "array";
  case Tag::Map: return "map";
  case Tag::Instance: return "instance";
  case Tag::Function:
  case Tag::Cell: return "function";
  case Tag::Future: return "future";
  case Tag::TaskGroup: return "task group";
  case Tag::CancelToken: return "cancel token";
  }
  return "?";
}
} // namespace

Fiber::Fiber(const CompiledProgram& program, uint32_t function, uint32_t max_depth, void* storage, MemoryPool* pool)
    : m_program(program), m_own_heap(pool), m_heap(m_own_heap), m_max_depth(max_depth) {
  init_stack(program.functions[function], storage);
}

void Fiber::init_stack(const FunctionInfo& fn, void* storage) {
  uint32_t slots = uint32_t(fn.num_locals) + fn.max_stack;
  if (storage) {
    // Values first, at the 16-byte aligned start: a value that straddled two
    // cache lines would make every push and pop of its slot slow.
    m_stack = static_cast<Value*>(storage);
    std::uninitialized_default_construct_n(m_stack, slots);
    m_stack_cap = slots;
    m_frames = new (m_stack + slots) Frame{};
    m_frame_cap = 1;
  } else {
    m_frames = new Frame[1];
    m_frame_cap = 1;
    m_frames_owned = true;
    m_stack = new Value[slots];
    m_stack_cap = slots;
    m_stack_owned = true;
  }
}

Fiber::Fiber(const CompiledProgram& program, uint32_t function, uint32_t max_depth, void* storage, Fiber& root,
             FutureObj* future)
    : m_program(program), m_heap(root.m_heap), m_max_depth(max_depth) {
  init_stack(program.functions[function], storage);
  if (!root.m_tasks) root.m_tasks = std::make_unique<Tasks>();
  m_tasks = std::make_unique<Tasks>();
  m_tasks->root = &root;
  m_tasks->future = future;
  m_tasks->index = root.m_tasks->fibers.size();
  root.m_tasks->fibers.push_back(this);
}

Fiber::~Fiber() {
  if (m_tasks && m_tasks->root) { // a task's fiber leaves its call's list, and gives back its stack's charge
    m_heap.uncharge(m_tasks->stack_charged);
    auto& fibers = m_tasks->root->m_tasks->fibers;
    Fiber* last = fibers.back();
    fibers[m_tasks->index] = last;
    last->m_tasks->index = m_tasks->index;
    fibers.pop_back();
  }
  if (m_stack_owned) delete[] m_stack;
  if (m_frames_owned) delete[] m_frames;
}

namespace {
// Moves the first `live` elements of `data` into a new array of `n`, which
// the fiber then owns (the old one is freed if it owned it).
template <typename T> void reallocate(T*& data, uint32_t& cap, bool& owned, size_t live, size_t n) {
  T* fresh = new T[n];
  std::copy(data, data + live, fresh);
  if (owned) delete[] data;
  data = fresh;
  cap = uint32_t(n);
  owned = true;
}
} // namespace

// The stack and the frames grow by doubling, charged to the call's memory
// account like the heap's objects (given back when the fiber ends).
void Fiber::grow_stack(size_t needed) {
  size_t n = std::max<size_t>(needed, size_t(m_stack_cap) * 2);
  if (n > UINT32_MAX) {
    if (needed > UINT32_MAX) throw std::bad_alloc(); // 64 GiB of stack: out of memory
    n = UINT32_MAX;
  }
  m_heap.charge((n - m_stack_cap) * sizeof(Value));
  if (m_tasks && m_tasks->root) m_tasks->stack_charged += (n - m_stack_cap) * sizeof(Value); // (given back when it ends)
  reallocate(m_stack, m_stack_cap, m_stack_owned, m_sp, n);
}

void Fiber::grow_frames() {
  uint32_t n = std::max<uint32_t>(8, m_frame_cap * 2);
  m_heap.charge((n - m_frame_cap) * sizeof(Frame));
  if (m_tasks && m_tasks->root) m_tasks->stack_charged += (n - m_frame_cap) * sizeof(Frame);
  reallocate(m_frames, m_frame_cap, m_frames_owned, m_frame_count, n);
}

// a + b for two strings, charged before it is built.
Value Fiber::concat(Value a, Value b, const RunContext& ctx) {
  const std::string &x = a.as_string()->text, &y = b.as_string()->text;
  return Value::object(Tag::String, m_heap.build_string(x.size() + y.size(), [&](std::string& out) {
    if (out.capacity() <= size_t(CancelCheck::kBudget)) {
      out += x;
      out += y;
      return;
    }
    CancelCheck cc(ctx.cancel_state); // a big one: copied in slices
    append_checked(out, x, cc);
    append_checked(out, y, cc);
  }));
}

// Pushes a frame for `function` whose `argc` arguments are the top of the
// stack. The caller has saved the current frame (SAVE: its ip is where the
// call returns to). Returns false on stack overflow.
bool Fiber::enter(uint32_t function, size_t argc) {
  if (m_frame_count >= m_max_depth) return false;
  const FunctionInfo& fn = m_program.functions[function];
  size_t base = m_sp - argc;
  grow(base + fn.num_locals + fn.max_stack);
  for (size_t i = base + argc; i < base + fn.num_locals; i++) m_stack[i] = Value::null();
  m_sp = uint32_t(base + fn.num_locals);
  if (m_frame_count == m_frame_cap) grow_frames();
  m_frames[m_frame_count++] = Frame{&fn, fn.chunk.code.data(), base};
  return true;
}

// ---------------------------------------------------------------- watch let

bool Fiber::watch_active(const Watch& w) const {
  if (w.frame >= m_frame_count) return false;
  const Frame& f = m_frames[w.frame];
  if (f.fn != w.fn) return false;
  // The frame's ip is saved just past the instruction running (or, for a
  // caller, past its CALL): in (begin, end] while that instruction is in
  // the block's [begin, end).
  size_t at = size_t(f.ip - f.fn->chunk.code.data());
  return at > w.begin && at <= w.end;
}

void Fiber::watch_report(const Watch& w, const RunContext& ctx) {
  ctx.watch->notify(ctx.watch->user, *w.fn, *w.name, m_stack[m_frames[w.frame].base + w.slot], m_heap);
}

// Forgets what w's value reaches (its memory was charged to the call).
void Fiber::watch_forget_reach(Watch& w) {
  if (!w.reach) return;
  m_heap.uncharge(w.reach_bytes);
  w.reach_bytes = 0;
  w.reach.reset();
}

// WATCH: the variable in `slot` of the current frame is watched from here
// (replacing an earlier watch of it: a loop's next turn); its value now is
// its first report.
void Fiber::watch_begin(uint16_t slot, uint16_t options, const StringObj* name, uint32_t begin, uint32_t end,
                        const RunContext& ctx) {
  if (!m_watches) m_watches = std::make_unique<std::vector<Watch>>();
  uint32_t frame = m_frame_count - 1;
  const FunctionInfo* fn = m_frames[frame].fn;
  auto it = std::find_if(m_watches->begin(), m_watches->end(),
                         [&](const Watch& x) { return x.frame == frame && x.slot == slot && x.fn == fn; });
  if (it == m_watches->end()) it = m_watches->insert(m_watches->end(), Watch{});
  watch_forget_reach(*it);
  it->frame = frame;
  it->fn = fn;
  it->begin = begin;
  it->end = end;
  it->slot = slot;
  it->options = options;
  it->name = name;
  watch_report(*it, ctx);
}

// WATCH_SET: the current frame's `slot` was assigned; `old` was its value.
Fiber::Watch* Fiber::active_watch(uint16_t slot) {
  uint32_t frame = m_frame_count - 1;
  for (Watch& w : *m_watches)
    if (w.frame == frame && w.slot == slot && watch_active(w)) return &w;
  return nullptr;
}

bool Fiber::watch_assigned(uint16_t slot, Value old, const RunContext& ctx, bool report) {
  Watch* w = active_watch(slot);
  if (!w) return false;
  watch_forget_reach(*w);
  if (values_equal(old, m_stack[m_frames[m_frame_count - 1].base + slot], ctx.cancel_state)) return false;
  if (report) watch_report(*w, ctx);
  return true;
}

void Fiber::watch_notify(uint16_t slot, const RunContext& ctx) {
  if (Watch* w = active_watch(slot)) watch_report(*w, ctx);
}

// A watch's options (x.$watch.options): "manual" leaves reporting to notify().
bool Fiber::is_manual(Value when) { return when.tag == Tag::String && when.as_string()->text == "manual"; }

namespace {
bool is_container(Value v) { return v.tag == Tag::Array || v.tag == Tag::Map || v.tag == Tag::Instance; }
} // namespace

// `old` was replaced by `now` in `container` (null for what a push or pop
// did not have; `changed`: known to be a change, else it is one when they
// are not ==): every watched variable whose value reaches the container is
// reported, if it changed. What a value reaches is walked once (each object once: shared
// parts and cycles) and kept until an object in it gains or loses a
// reference to another object, or the variable is assigned: a change to an
// object outside it cannot change it, so changes elsewhere cost a lookup.
void Fiber::watch_mutated(Value container, Value old, Value now, bool changed, const RunContext& ctx) {
  if (!is_container(container)) return;
  bool edges = is_container(old) || is_container(now);
  bool compared = changed;
  std::vector<size_t> reached;
  for (size_t i = 0; i < m_watches->size(); i++) {
    Watch& w = (*m_watches)[i];
    if (!watch_active(w)) continue;
    if (!w.reach) {
      // Charged as it grows (a slot pair in the map, a place in `todo`):
      // walking a value near the call's limit fails it like any allocation.
      constexpr size_t kBytesPerObject = 48;
      CancelCheck cc(ctx.cancel_state);
      auto reach = std::make_shared<Reach>(nullptr);
      std::vector<const Object*> todo;
      size_t charged = 0;
      struct Uncharge { // (if the walk throws)
        Heap& heap;
        size_t& bytes;
        ~Uncharge() { heap.uncharge(bytes); }
      } guard{m_heap, charged};
      auto visit = [&](Value v) {
        if (!is_container(v) || reach->find(v.obj)) return;
        m_heap.charge(kBytesPerObject);
        charged += kBytesPerObject;
        reach->insert(v.obj, true);
        todo.push_back(v.obj);
      };
      visit(m_stack[m_frames[w.frame].base + w.slot]);
      while (!todo.empty()) {
        const Object* o = todo.back();
        todo.pop_back();
        cc.items();
        if (o->tag == Tag::Array) {
          for (Value v : static_cast<const ArrayObj*>(o)->items) visit(v);
        } else if (o->tag == Tag::Map) {
          for (Value v : static_cast<const MapObj*>(o)->values) visit(v);
        } else {
          for (Value v : static_cast<const InstanceObj*>(o)->fields) visit(v);
        }
      }
      w.reach = std::move(reach);
      w.reach_bytes = charged;
      charged = 0; // (kept: given back by watch_forget_reach)
    }
    if (!w.reach->find(container.obj)) continue;
    // With a `when` function or "manual", only assignments (through the
    // function) and notify() report.
    if (Value when = m_stack[m_frames[w.frame].base + w.options]; when.tag == Tag::Function || is_manual(when)) {
      if (edges) watch_forget_reach(w);
      continue;
    }
    if (!compared) { // (only for a container some watch reaches)
      changed = !values_equal(old, now, ctx.cancel_state);
      compared = true;
    }
    if (changed) reached.push_back(i);
    if (edges) watch_forget_reach(w); // (an equal object in place of another is still another object)
  }
  for (size_t i : reached) watch_report((*m_watches)[i], ctx);
}

// After a RETURN: the returned frame's watches end.
void Fiber::watch_drop_frames() {
  auto gone = std::remove_if(m_watches->begin(), m_watches->end(), [&](Watch& w) {
    if (w.frame < m_frame_count) return false;
    watch_forget_reach(w);
    return true;
  });
  m_watches->erase(gone, m_watches->end());
}

// The field called `name` of instance `o`, or nullptr (not an instance, or
// its class has no such field).
Value* Fiber::named_field(Value o, const StringObj* name) {
  if (o.tag != Tag::Instance) return nullptr;
  InstanceObj* inst = o.as_instance();
  int64_t f = m_program.classes[inst->class_id].find_field(name->text);
  return f < 0 ? nullptr : &inst->fields[size_t(f)];
}

// A field read or set by index (the checker knew the class) on a value that
// is not an instance of that class: one that came through `any` (an element
// of `[]`, a caught value) where the class was declared.
RunStatus Fiber::class_error(const uint8_t* ip, Value o, uint32_t cls, uint32_t field, const char* verb) {
  const ClassInfo& c = m_program.classes[cls];
  std::string got = o.tag == Tag::Instance ? "an instance of " + m_program.classes[o.as_instance()->class_id].name
                                           : "a value of type " + std::string(tag_name(o.tag));
  return fail(ip, "type_error", "cannot " + std::string(verb) + " field '" + c.field_names[field] + "' of " + got +
                                    " (declared as " + c.name + ")");
}

RunStatus Fiber::field_error(const uint8_t* ip, Value o, const StringObj* name, const char* verb) {
  if (o.tag != Tag::Instance)
    return fail(ip, "type_error",
                std::string("cannot ") + verb + " field '" + name->text + "' of a value of type " + tag_name(o.tag));
  return fail(ip, "type_error",
              "class '" + m_program.classes[o.as_instance()->class_id].name + "' has no field '" + name->text + "'");
}

RunStatus Fiber::fail(const uint8_t* ip, std::string kind, std::string message) {
  if (m_handlers && !m_handlers->empty() && kind != "unhandled_throw") {
    // Caught: the error as a string "<kind>: <message>" (a failed assert
    // and baml.sys.panic are both "panic").
    m_frames[m_frame_count - 1].ip = ip;
    Value v = m_heap.string_value((kind == "assertion" ? std::string("panic") : kind) + ": " + message);
    unwind(v);
    return RunStatus::Caught;
  }
  m_error = std::make_unique<ScriptError>();
  m_error->kind = std::move(kind);
  m_error->message = std::move(message);
  for (size_t i = m_frame_count; i-- > 0;) {
    const Frame& f = m_frames[i];
    const uint8_t* at = (i + 1 == m_frame_count) ? ip : f.ip;
    size_t offset = size_t(at - f.fn->chunk.code.data());
    m_error->frames.push_back(ScriptFrame{f.fn->name, f.fn->chunk.line_at(offset ? offset - 1 : 0)});
  }
  return RunStatus::Failed;
}

void Fiber::begin(uint32_t function) {
  // The arguments are the first m_sp slots; the first frame always fits
  // (max_depth >= 1) and needs no more stack than the constructor made.
  enter(function, m_sp);
}

Request Fiber::request() const {
  Request r;
  r.kind = m_request_kind;
  if (r.kind == Request::Kind::Sleep) r.sleep_ms = m_request_arg;
  if (r.kind == Request::Kind::HostCall || r.kind == Request::Kind::Llm) {
    r.host_function = uint32_t(uint64_t(m_request_arg) & 0xFFFFFFFF);
    r.argc = uint8_t(uint64_t(m_request_arg) >> 32);
  }
  if (r.kind == Request::Kind::Http || r.kind == Request::Kind::Shell) r.argc = uint8_t(m_request_arg);
  if (r.kind == Request::Kind::Await) { // mode | (timeout + 1) << 8
    r.argc = 1;
    r.await_mode = AwaitMode(m_request_arg & 0xFF);
    r.sleep_ms = (m_request_arg >> 8) - 1;
  }
  if (r.kind == Request::Kind::GroupAdmit) r.argc = 2;
  return r;
}

RunStatus Fiber::raise(ScriptError error) {
  m_request_kind = Request::Kind::None;
  const Frame& top = m_frames[m_frame_count - 1];
  RunStatus status = fail(top.ip, std::move(error.kind), std::move(error.message));
  if (status == RunStatus::Caught) return RunStatus::Yielded; // run() goes on at the catch
  m_error->code = std::move(error.code);
  return status;
}

// The innermost handler takes `thrown`: frames above its own end (their
// watches and handlers with them), the stack is cut back to its height,
// and its frame goes on at its catch with the value pushed.
bool Fiber::unwind(Value thrown) {
  if (!m_handlers || m_handlers->empty()) return false;
  Handler h = m_handlers->back();
  m_handlers->pop_back();
  m_frame_count = h.frame + 1;
  if (m_watches) watch_drop_frames();
  drop_handlers();
  m_sp = h.sp;
  m_stack[m_sp++] = thrown;
  Frame& f = m_frames[h.frame];
  f.ip = f.fn->chunk.code.data() + h.at;
  return true;
}

// THROW: to a catch, or the call fails with unhandled_throw showing the
// value (a string as it is, anything else as the script would show it).
RunStatus Fiber::throw_value(const uint8_t* ip, Value v) {
  if (unwind(v)) return RunStatus::Caught;
  std::string shown;
  switch (v.tag) {
  case Tag::String: { // (an excerpt of a long one: the value itself goes to the host)
    const std::string& text = v.as_string()->text;
    shown = utf8_prefix(text, 1024);
    if (shown.size() < text.size()) shown += "...";
    break;
  }
  case Tag::Int: shown = std::to_string(v.i); break;
  case Tag::Bool: shown = v.b ? "true" : "false"; break;
  case Tag::Null: shown = "null"; break;
  default: shown = std::string("a value of type ") + tag_name(v.tag); break;
  }
  RunStatus status = fail(ip, "unhandled_throw", "unhandled throw: " + shown);
  m_error->thrown = v;
  return status;
}

// Handlers of frames that have ended go with them.
void Fiber::drop_handlers() {
  while (m_handlers && !m_handlers->empty() && m_handlers->back().frame >= m_frame_count) m_handlers->pop_back();
}

// A failure reading a response (its body already read, or not JSON) carries
// the response's status, URL and, when `body` is its text, an excerpt of it.
void Fiber::attach_response(Value response, Value body) {
  if (response.tag != Tag::Instance || response.as_instance()->class_id != m_program.response_class) return;
  const auto& fields = response.as_instance()->fields;
  auto http = std::make_shared<HttpFailure>();
  http->status = fields[kResponseStatus].i;
  if (fields[kResponseUrl].tag == Tag::String) http->url = fields[kResponseUrl].as_string()->text;
  if (body.tag == Tag::String) http->body = std::string(utf8_prefix(body.as_string()->text, kHttpBodyExcerpt));
  m_error->http = std::move(http);
}

// Slow paths of run(), out of line. run() keeps only trivially destructible
// locals: a computed goto may not leave the scope of a std::string or a
// BuiltinResult (clang rejects it; g++ accepts it and skips the destructor).
// Building no strings in run() also leaves its handlers fewer live values,
// so g++ spills less in the hot ones; stack_overflow() takes the saved ip so
// that ip is not live across CALL's call to enter().
RunStatus Fiber::fail(const uint8_t* ip, const char* kind, const char* message) {
  return fail(ip, std::string(kind), std::string(message));
}

RunStatus Fiber::type_error(const uint8_t* ip, const char* what, Tag a, Tag b) {
  return fail(ip, "type_error", std::string(what) + " cannot be applied to " + tag_name(a) + " and " + tag_name(b));
}

RunStatus Fiber::type_error(const uint8_t* ip, const char* message, Tag t) {
  return fail(ip, "type_error", message + std::string(tag_name(t)));
}

RunStatus Fiber::index_error(const uint8_t* ip, int64_t index, size_t length) {
  return fail(ip, "index_out_of_range",
              "index " + std::to_string(index) + " out of range for array of length " + std::to_string(length));
}

RunStatus Fiber::key_error(const uint8_t* ip, const std::string& key) {
  return fail(ip, "key_not_found", "key \"" + key + "\" not found in map");
}

RunStatus Fiber::stack_overflow() {
  return fail(m_frames[m_frame_count - 1].ip, "stack_overflow",
              "maximum call depth (" + std::to_string(m_max_depth) + ") exceeded");
}

std::optional<RunStatus> Fiber::builtin(uint16_t id, size_t argc, const RunContext& ctx) {
  if (id >= uint16_t(BuiltinId::TASK_SPAWN)) return task_builtin(id, argc, ctx);
  BuiltinResult r = call_builtin(id, m_stack + m_sp, argc, m_heap, ctx, m_program);
  switch (r.kind) {
  case BuiltinResult::Kind::Ok: m_stack[m_sp++] = r.out; return std::nullopt;
  case BuiltinResult::Kind::Error: {
    Value receiver = m_stack[m_sp];
    RunStatus status = fail(m_frames[m_frame_count - 1].ip, std::move(r.error_kind), std::move(r.message));
    if (status == RunStatus::Failed && (BuiltinId(id) == BuiltinId::RESPONSE_TEXT || BuiltinId(id) == BuiltinId::RESPONSE_JSON))
      attach_response(receiver, r.out);
    return status;
  }
  case BuiltinResult::Kind::Suspend:
    // A suspending builtin's arguments stay where they are, above m_sp
    // (request_args()), for the runtime to read before anything else runs.
    m_request_kind = r.request.kind;
    m_request_arg = r.request.kind == Request::Kind::Http || r.request.kind == Request::Kind::Shell ? int64_t(argc)
                                                                                                    : r.request.sleep_ms;
    return RunStatus::Suspended;
  }
  return std::nullopt;
}

// A call of a function value whose type the checker did not know: the
// arguments must be what the function declares (its code relies on it).
// Finished: they are.
RunStatus Fiber::check_arguments(const uint8_t* ip, const FunctionObj& f, const Value* args, size_t argc,
                                 const RunContext& ctx) {
  const FunctionInfo& fn = m_program.functions[f.function];
  size_t skip = f.bound ? 1 : 0;
  if (argc + skip != fn.arity)
    return fail(ip, "type_error", "'" + fn.name + "' takes " + std::to_string(fn.arity - skip) + " argument" +
                                      (fn.arity - skip == 1 ? "" : "s") + ", not " + std::to_string(argc));
  for (size_t i = 0; i < argc; i++)
    if (!value_has_type(m_program, args[i], fn.param_types[i + skip], ctx.cancel_state))
      return fail(ip, "type_error", "argument " + std::to_string(i + 1) + " of '" + fn.name + "' must be " +
                                        m_program.type_name(fn.param_types[i + skip]) + ", not " + tag_name(args[i].tag));
  return RunStatus::Finished;
}

void Fiber::resume(Value v) {
  m_request_kind = Request::Kind::None;
  m_stack[m_sp++] = v;
}

RunStatus Fiber::run(const RunContext& ctx) {
  static const void* const dispatch[] = {
#define OPCODE(name, operands, effect, desc) &&op_##name,
#include "vm/opcodes.def"
#undef OPCODE
      &&op_INTERRUPTED, // not an opcode: at index COUNT_, for DispatchTable
  };
  if (!ctx.table) { // describe mode (ensure_tables)
    g_normal = dispatch;
    return RunStatus::Finished;
  }
  Frame* frame = &m_frames[m_frame_count - 1];
  const uint8_t* ip = frame->ip;
  // m_stack is re-read where needed rather than kept in a register: this
  // function is one big loop and registers are scarce.
  Value* base = m_stack + frame->base;
  Value* sp = m_stack + m_sp;
  const Value* constants = frame->fn->chunk.constants.data();

#define READ_U8() (*ip++)
#define READ_U16() (ip += 2, uint16_t(ip[-2] | (ip[-1] << 8)))
#define SAVE() (frame->ip = ip, m_sp = uint32_t(sp - m_stack))
#define RELOAD()                                   \
  do {                                             \
    frame = &m_frames[m_frame_count - 1];          \
    ip = frame->ip;                                \
    base = m_stack + frame->base;                  \
    sp = m_stack + m_sp;                           \
    constants = frame->fn->chunk.constants.data(); \
  } while (0)
#ifndef BRAKE_NO_CANCEL_CHECKS
  const std::atomic<const void*>* const table = ctx.table;
#define DISPATCH() goto* table[*ip++].load(std::memory_order_relaxed)
#else
#define DISPATCH() goto* dispatch[*ip++]
#endif
// Error exits: save the registers, return a failure built out of line.
// A failure a catch took (Caught) goes on there.
// (The caught value is on the stack, a root, when the heap collects.)
#define FAIL(status)                       \
  do {                                     \
    SAVE();                                \
    RunStatus failed_ = (status);          \
    if (failed_ == RunStatus::Caught) {    \
      RELOAD();                            \
      MAYBE_COLLECT();                     \
      DISPATCH();                          \
    }                                      \
    return failed_;                        \
  } while (0)
#define ERROR(kind, msg) FAIL(fail(ip, kind, msg))
#define TYPE_ERROR(what, a, b) FAIL(type_error(ip, what, a.tag, b.tag))
#define MAYBE_COLLECT()                                      \
  do {                                                       \
    if (m_heap.wants_collect()) collect(size_t(sp - m_stack), ctx.cancel_state); \
  } while (0)

  // The first instruction of every run goes through the fixed table: a call
  // that yielded at an interrupted LOOP or CALL resumes at that instruction,
  // and must execute it even while the worker's table is still interrupted
  // (the worker resets it only when it next looks at its inbox), or every
  // call but the first in a round would make no progress at all.
  goto* dispatch[*ip++];

op_CONST: *sp++ = constants[READ_U16()]; DISPATCH();
op_PUSH_NULL: *sp++ = Value::null(); DISPATCH();
op_PUSH_TRUE: *sp++ = Value::boolean(true); DISPATCH();
op_PUSH_FALSE: *sp++ = Value::boolean(false); DISPATCH();
op_POP: --sp; DISPATCH();
op_DUP: sp[0] = sp[-1]; sp++; DISPATCH();
op_DUP2: sp[0] = sp[-2]; sp[1] = sp[-1]; sp += 2; DISPATCH();
op_GET_LOCAL: *sp++ = base[READ_U16()]; DISPATCH();
op_SET_LOCAL: base[READ_U16()] = *--sp; DISPATCH();
op_ADD_TO_LOCAL: {
  Value& a = base[READ_U16()];
  Value b = *--sp;
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    int64_t r; // (the local keeps its value when the sum overflows: a catch may read it)
    if (__builtin_add_overflow(a.i, b.i, &r)) ERROR("overflow", "integer overflow in '+'");
    a.i = r;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f += b.f; DISPATCH(); }
  if (a.tag == Tag::String && b.tag == Tag::String) {
    a = concat(a, b, ctx);
    MAYBE_COLLECT(); // the new string is already in its local (a root)
    DISPATCH();
  }
  TYPE_ERROR("'+'", a, b);
}
op_SUB_FROM_LOCAL: {
  Value& a = base[READ_U16()];
  Value b = *--sp;
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    int64_t r;
    if (__builtin_sub_overflow(a.i, b.i, &r)) ERROR("overflow", "integer overflow in '-'");
    a.i = r;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f -= b.f; DISPATCH(); }
  TYPE_ERROR("'-'", a, b);
}

op_ADD: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    if (__builtin_add_overflow(a.i, b.i, &a.i)) ERROR("overflow", "integer overflow in '+'");
    --sp;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f += b.f; --sp; DISPATCH(); }
  if (a.tag == Tag::String && b.tag == Tag::String) {
    a = concat(a, b, ctx);
    --sp;
    MAYBE_COLLECT();
    DISPATCH();
  }
  TYPE_ERROR("'+'", a, b);
}
op_SUB: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    if (__builtin_sub_overflow(a.i, b.i, &a.i)) ERROR("overflow", "integer overflow in '-'");
    --sp;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f -= b.f; --sp; DISPATCH(); }
  TYPE_ERROR("'-'", a, b);
}
op_MUL: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    if (__builtin_mul_overflow(a.i, b.i, &a.i)) ERROR("overflow", "integer overflow in '*'");
    --sp;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f *= b.f; --sp; DISPATCH(); }
  TYPE_ERROR("'*'", a, b);
}
op_DIV: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    if (b.i == 0) ERROR("division_by_zero", "division by zero");
    if (b.i == -1 && a.i == INT64_MIN) ERROR("overflow", "integer overflow in '/'");
    a.i /= b.i;
    --sp;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f /= b.f; --sp; DISPATCH(); }
  TYPE_ERROR("'/'", a, b);
}
op_MOD: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag == Tag::Int && b.tag == Tag::Int) {
    if (b.i == 0) ERROR("division_by_zero", "division by zero in '%'");
    a.i = (b.i == -1) ? 0 : a.i % b.i;
    --sp;
    DISPATCH();
  }
  if (a.tag == Tag::Float && b.tag == Tag::Float) { a.f = std::fmod(a.f, b.f); --sp; DISPATCH(); }
  TYPE_ERROR("'%'", a, b);
}
op_NEG: {
  Value& a = sp[-1];
  if (a.tag == Tag::Int) {
    if (a.i == INT64_MIN) ERROR("overflow", "integer overflow in unary '-'");
    a.i = -a.i;
    DISPATCH();
  }
  if (a.tag == Tag::Float) { a.f = -a.f; DISPATCH(); }
  FAIL(type_error(ip, "unary '-' cannot be applied to ", a.tag));
}
op_NOT: {
  Value& a = sp[-1];
  if (a.tag != Tag::Bool) FAIL(type_error(ip, "'!' cannot be applied to ", a.tag));
  a.b = !a.b;
  DISPATCH();
}
#define BITWISE(name, expr)                                          \
  op_##name : {                                                      \
    Value& a = sp[-2];                                               \
    Value b = sp[-1];                                                \
    if (a.tag != Tag::Int || b.tag != Tag::Int) TYPE_ERROR(#name, a, b); \
    expr;                                                            \
    --sp;                                                            \
    DISPATCH();                                                      \
  }
BITWISE(BIT_AND, a.i &= b.i)
BITWISE(BIT_OR, a.i |= b.i)
BITWISE(BIT_XOR, a.i ^= b.i)
op_SHL: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag != Tag::Int || b.tag != Tag::Int) TYPE_ERROR("'<<'", a, b);
  if (b.i < 0 || b.i > 63) ERROR("overflow", "shift amount out of range");
  a.i = int64_t(uint64_t(a.i) << b.i);
  --sp;
  DISPATCH();
}
op_SHR: {
  Value& a = sp[-2];
  Value b = sp[-1];
  if (a.tag != Tag::Int || b.tag != Tag::Int) TYPE_ERROR("'>>'", a, b);
  if (b.i < 0 || b.i > 63) ERROR("overflow", "shift amount out of range");
  a.i = a.i >> b.i;
  --sp;
  DISPATCH();
}
op_BIT_NOT: {
  Value& a = sp[-1];
  if (a.tag != Tag::Int) FAIL(type_error(ip, "'~' cannot be applied to ", a.tag));
  a.i = ~a.i;
  DISPATCH();
}
op_EQ: {
  bool r = values_equal(sp[-2], sp[-1], ctx.cancel_state);
  sp[-2] = Value::boolean(r);
  --sp;
  DISPATCH();
}
op_NE: {
  bool r = !values_equal(sp[-2], sp[-1], ctx.cancel_state);
  sp[-2] = Value::boolean(r);
  --sp;
  DISPATCH();
}
// r = a op b for two ints, two floats or two strings; a type error otherwise.
#define TYPED_COMPARE(r, a, b, op)                                                     \
  do {                                                                                 \
    if (a.tag == Tag::Int && b.tag == Tag::Int) r = a.i op b.i;                        \
    else if (a.tag == Tag::Float && b.tag == Tag::Float) r = a.f op b.f;               \
    else if (a.tag == Tag::String && b.tag == Tag::String)                             \
      r = a.as_string()->text op b.as_string()->text;                                  \
    else TYPE_ERROR("'" #op "'", a, b);                                                \
  } while (0)
#define COMPARE(name, op)                                                              \
  op_##name : {                                                                        \
    Value a = sp[-2], b = sp[-1];                                                      \
    bool r;                                                                            \
    TYPED_COMPARE(r, a, b, op);                                                        \
    sp[-2] = Value::boolean(r);                                                        \
    --sp;                                                                              \
    DISPATCH();                                                                        \
  }
COMPARE(LT, <)
COMPARE(LE, <=)
COMPARE(GT, >)
COMPARE(GE, >=)

op_JUMP: {
  uint16_t off = READ_U16();
  ip += off;
  DISPATCH();
}
#define JUMP_UNLESS(name, op)                                                          \
  op_##name : {                                                                        \
    uint16_t off = READ_U16();                                                         \
    Value a = sp[-2], b = sp[-1];                                                      \
    sp -= 2;                                                                           \
    if (a.tag == Tag::Int && b.tag == Tag::Int) { /* every counted loop */             \
      if (!(a.i op b.i)) ip += off;                                                    \
      DISPATCH();                                                                      \
    }                                                                                  \
    bool r;                                                                            \
    TYPED_COMPARE(r, a, b, op);                                                        \
    if (!r) ip += off;                                                                 \
    DISPATCH();                                                                        \
  }
JUMP_UNLESS(JUMP_IF_NOT_LT, <)
JUMP_UNLESS(JUMP_IF_NOT_LE, <=)
JUMP_UNLESS(JUMP_IF_NOT_GT, >)
JUMP_UNLESS(JUMP_IF_NOT_GE, >=)
op_JUMP_IF_FALSE: {
  uint16_t off = READ_U16();
  Value c = *--sp;
  if (c.tag != Tag::Bool) FAIL(type_error(ip, "condition must be bool, not ", c.tag));
  if (!c.b) ip += off;
  DISPATCH();
}
op_JUMP_IF_FALSE_OR_POP: {
  uint16_t off = READ_U16();
  Value c = sp[-1];
  if (c.tag != Tag::Bool) FAIL(type_error(ip, "'&&' needs bool, not ", c.tag));
  if (!c.b) ip += off;
  else --sp;
  DISPATCH();
}
op_JUMP_IF_TRUE_OR_POP: {
  uint16_t off = READ_U16();
  Value c = sp[-1];
  if (c.tag != Tag::Bool) FAIL(type_error(ip, "'||' needs bool, not ", c.tag));
  if (c.b) ip += off;
  else --sp;
  DISPATCH();
}
op_LOOP: {
  uint16_t off = READ_U16();
  ip -= off;
  DISPATCH();
}
op_CALL: {
  uint16_t fn = READ_U16();
  uint8_t argc = READ_U8();
  SAVE();
  if (!enter(fn, argc)) FAIL(stack_overflow());
  RELOAD();
  DISPATCH();
}
op_RETURN: {
  Value result = sp[-1];
  size_t frame_base = frame->base;
  if (--m_frame_count == 0) {
    m_stack[0] = result;
    m_sp = 0;
    return RunStatus::Finished;
  }
  m_sp = uint32_t(frame_base);
  m_stack[m_sp++] = result;
  if (m_watches) watch_drop_frames();
  if (m_handlers) drop_handlers();
  RELOAD();
  DISPATCH();
}
op_CALL_HOST:
  m_request_kind = Request::Kind::HostCall;
  goto call_out;
op_CALL_LLM:
  m_request_kind = Request::Kind::Llm;
call_out: { // a call the runtime answers: u16 function, u8 argc
  uint16_t fn = READ_U16();
  uint8_t argc = READ_U8();
  sp -= argc; // the arguments stay where they are, above m_sp: request_args()
  SAVE();
  m_request_arg = int64_t(uint64_t(fn) | uint64_t(argc) << 32);
  return RunStatus::Suspended;
}
op_BUILTIN: {
  uint16_t id = READ_U16();
  uint8_t argc = READ_U8();
  sp -= argc;
  if (id == uint16_t(BuiltinId::ARRAY_PUSH) && sp[0].tag == Tag::Array && !m_watches) {
    // The commonest builtin in a loop (map's and filter's results too), inline.
    SAVE(); // (growing it may pass a memory limit: the call fails here)
    m_heap.array_push(sp[0].as_array(), sp[1]);
    *sp++ = Value::null();
    MAYBE_COLLECT();
    DISPATCH();
  }
  // A watched call's push or pop: its receiver (an array), push's item and the length before.
  bool watched = m_watches && (kBuiltins[id].flags & kMutates) && argc >= 1 && sp[0].tag == Tag::Array;
  Value receiver = watched ? sp[0] : Value::null(), item = watched && argc > 1 ? sp[1] : Value::null();
  size_t length = watched ? receiver.as_array()->items.size() : 0;
  SAVE(); // the builtin may fail (the script stack needs ip) or suspend here
  if (std::optional<RunStatus> stop = builtin(id, argc, ctx)) {
    if (*stop == RunStatus::Caught) {
      RELOAD();
      MAYBE_COLLECT(); // (what was caught is on the stack: a root)
      DISPATCH();
    }
    return *stop;
  }
  if (watched && receiver.as_array()->items.size() != length) // (pop's result, push's item)
    watch_mutated(receiver, m_stack[m_sp - 1], item, true, ctx);
  sp = m_stack + m_sp;
  MAYBE_COLLECT();
  DISPATCH();
}
op_ARRAY: {
  uint16_t n = READ_U16();
  ArrayObj* arr = m_heap.new_array(n);
  arr->items.assign(sp - n, sp);
  sp -= n;
  *sp++ = Value::object(Tag::Array, arr);
  MAYBE_COLLECT();
  DISPATCH();
}
op_MAP: {
  uint16_t n = READ_U16();
  MapObj* map = m_heap.new_map(n);
  Value* pairs = sp - 2 * n;
  for (uint16_t i = 0; i < n; i++) m_heap.map_set(map, pairs[2 * i].as_string()->text, pairs[2 * i + 1]);
  sp = pairs;
  *sp++ = Value::object(Tag::Map, map);
  MAYBE_COLLECT();
  DISPATCH();
}
op_INSTANCE: {
  uint16_t cls = READ_U16();
  uint16_t n = READ_U16();
  InstanceObj* obj = m_heap.new_instance(cls, n);
  std::copy(sp - n, sp, obj->fields.begin());
  sp -= n;
  *sp++ = Value::object(Tag::Instance, obj);
  MAYBE_COLLECT();
  DISPATCH();
}
op_INDEX_GET: {
  Value c = sp[-2], i = sp[-1];
  if (c.tag == Tag::Array && i.tag == Tag::Int) {
    auto& items = c.as_array()->items;
    if (i.i < 0 || uint64_t(i.i) >= items.size())
      FAIL(index_error(ip, i.i, items.size()));
    sp[-2] = items[size_t(i.i)];
    --sp;
    DISPATCH();
  }
  if (c.tag == Tag::Map && i.tag == Tag::String) {
    const Value* v = c.as_map()->find(i.as_string()->text);
    if (!v) FAIL(key_error(ip, i.as_string()->text));
    sp[-2] = *v;
    --sp;
    DISPATCH();
  }
  TYPE_ERROR("indexing", c, i);
}
op_INDEX_SET: {
  Value c = sp[-3], i = sp[-2], v = sp[-1];
  if (c.tag == Tag::Array && i.tag == Tag::Int) {
    auto& items = c.as_array()->items;
    if (i.i < 0 || uint64_t(i.i) >= items.size())
      FAIL(index_error(ip, i.i, items.size()));
    Value old = items[size_t(i.i)];
    items[size_t(i.i)] = v;
    sp -= 3;
    if (m_watches) {
      SAVE();
      watch_mutated(c, old, v, false, ctx);
    }
    DISPATCH();
  }
  if (c.tag == Tag::Map && i.tag == Tag::String) {
    const Value* had = m_watches ? c.as_map()->find(i.as_string()->text) : nullptr;
    Value old = had ? *had : Value::null();
    m_heap.map_set(c.as_map(), i.as_string()->text, v);
    sp -= 3;
    if (m_watches) {
      SAVE();
      watch_mutated(c, old, v, !had, ctx);
    }
    DISPATCH();
  }
  TYPE_ERROR("index assignment", c, i);
}
op_FIELD_GET: {
  uint16_t cls = READ_U16();
  uint16_t f = READ_U16();
  Value o = sp[-1];
  if (o.tag != Tag::Instance || o.as_instance()->class_id != cls) FAIL(class_error(ip, o, cls, f, "read"));
  sp[-1] = o.as_instance()->fields[f];
  DISPATCH();
}
op_FIELD_SET: {
  uint16_t cls = READ_U16();
  uint16_t f = READ_U16();
  Value o = sp[-2];
  if (o.tag != Tag::Instance || o.as_instance()->class_id != cls) FAIL(class_error(ip, o, cls, f, "set"));
  Value old = o.as_instance()->fields[f];
  o.as_instance()->fields[f] = sp[-1];
  sp -= 2;
  if (m_watches) {
    SAVE();
    watch_mutated(o, old, sp[1], false, ctx);
  }
  DISPATCH();
}
op_FIELD_GET_NAMED: {
  Value o = sp[-1];
  const StringObj* name = constants[READ_U16()].as_string();
  Value* field = named_field(o, name);
  if (!field) FAIL(field_error(ip, o, name, "read"));
  sp[-1] = *field;
  DISPATCH();
}
op_FIELD_SET_NAMED: {
  Value o = sp[-2];
  const StringObj* name = constants[READ_U16()].as_string();
  Value* field = named_field(o, name);
  if (!field) FAIL(field_error(ip, o, name, "assign"));
  Value old = *field;
  *field = sp[-1];
  sp -= 2;
  if (m_watches) {
    SAVE();
    watch_mutated(o, old, sp[1], false, ctx);
  }
  DISPATCH();
}
op_ITER_NEXT: {
  uint16_t seq_slot = READ_U16();
  uint16_t idx_slot = READ_U16();
  uint16_t off = READ_U16();
  Value seq = base[seq_slot];
  int64_t idx = base[idx_slot].i;
  if (seq.tag == Tag::Array) {
    auto& items = seq.as_array()->items;
    if (uint64_t(idx) >= items.size()) { ip += off; DISPATCH(); }
    *sp++ = items[size_t(idx)];
  } else if (seq.tag == Tag::Map) {
    auto* map = seq.as_map();
    if (uint64_t(idx) >= map->size()) { ip += off; DISPATCH(); }
    *sp++ = m_heap.string_value(map->keys[size_t(idx)]);
    base[idx_slot].i = idx + 1;
    MAYBE_COLLECT();
    DISPATCH();
  } else {
    FAIL(type_error(ip, "cannot iterate over ", seq.tag));
  }
  base[idx_slot].i = idx + 1;
  DISPATCH();
}
op_TYPE_TEST: {
  uint16_t t = READ_U16();
  sp[-1] = Value::boolean(value_has_type(m_program, sp[-1], lang::TypeId(t), ctx.cancel_state));
  DISPATCH();
}
op_ASSERT: {
  Value c = *--sp;
  if (c.tag != Tag::Bool || !c.b) ERROR("assertion", "assertion failed");
  DISPATCH();
}
op_TRY: {
  uint16_t off = READ_U16();
  if (!m_handlers) m_handlers = std::make_unique<std::vector<Handler>>();
  m_handlers->push_back(Handler{m_frame_count - 1, uint32_t(sp - m_stack), uint32_t(ip + off - frame->fn->chunk.code.data())});
  DISPATCH();
}
op_END_TRY:
  m_handlers->pop_back();
  DISPATCH();
op_THROW: {
  Value v = *--sp;
  FAIL(throw_value(ip, v));
}
op_WATCH: {
  uint16_t slot = READ_U16();
  const StringObj* name = constants[READ_U16()].as_string();
  uint16_t options = READ_U16();
  uint16_t length = READ_U16();
  if (ctx.watch) {
    SAVE();
    uint32_t begin = uint32_t(ip - frame->fn->chunk.code.data());
    watch_begin(slot, options, name, begin, begin + length, ctx);
  }
  DISPATCH();
}
op_WATCH_SET: {
  uint16_t slot = READ_U16();
  uint16_t options = READ_U16();
  uint16_t skip = READ_U16();
  Value old = base[slot];
  Value now = base[slot] = *--sp;
  if (m_watches) {
    SAVE();
    Value when = base[options];
    if (when.tag == Tag::Function) {
      // The `when` function decides, if the value changed and the variable
      // is watched here: it and the value go to CALL_CHECKED and WATCH_REPORT.
      if (watch_assigned(slot, old, ctx, false)) {
        *sp++ = when;
        *sp++ = now;
        DISPATCH();
      }
    } else {
      watch_assigned(slot, old, ctx, !is_manual(when));
    }
  }
  ip += skip;
  DISPATCH();
}
op_WATCH_REPORT: {
  uint16_t slot = READ_U16();
  Value yes = *--sp;
  if (yes.tag != Tag::Bool) FAIL(type_error(ip, "a watch's `when` function must return bool, not ", yes.tag));
  if (yes.b && m_watches) {
    SAVE();
    watch_notify(slot, ctx);
  }
  DISPATCH();
}
op_WATCH_NOTIFY: {
  uint16_t slot = READ_U16();
  if (m_watches) {
    SAVE();
    watch_notify(slot, ctx);
  }
  DISPATCH();
}
op_CELL_NEW: {
  uint16_t slot = READ_U16();
  CellObj* cell = m_heap.new_cell(sp[-1]); // (the value stays on the stack, a root, until the cell holds it)
  base[slot] = Value::object(Tag::Cell, cell);
  --sp;
  MAYBE_COLLECT();
  DISPATCH();
}
op_CELL_GET: *sp++ = base[READ_U16()].as_cell()->value; DISPATCH();
op_CELL_SET: base[READ_U16()].as_cell()->value = *--sp; DISPATCH();
op_CLOSURE: {
  uint16_t fn = READ_U16();
  uint8_t n = READ_U8();
  FunctionObj* f = m_heap.new_function(fn, n);
  std::copy(sp - n, sp, f->captures.begin());
  sp -= n;
  *sp++ = Value::object(Tag::Function, f);
  MAYBE_COLLECT();
  DISPATCH();
}
op_BIND: {
  uint16_t fn = READ_U16();
  FunctionObj* f = m_heap.new_function(fn, 0);
  f->bound = true;
  f->self = sp[-1];
  sp[-1] = Value::object(Tag::Function, f);
  MAYBE_COLLECT();
  DISPATCH();
}
op_CALL_CHECKED:
op_CALL_VALUE: {
  bool checked = ip[-1] == uint8_t(OpCode::CALL_CHECKED);
  uint8_t argc = READ_U8();
  Value* callee = sp - argc - 1;
  if (callee->tag != Tag::Function) FAIL(type_error(ip, "cannot call a value of type ", callee->tag));
  FunctionObj* f = callee->as_function();
  const FunctionInfo& fn = m_program.functions[f->function];
  if (checked) {
    SAVE();
    if (RunStatus status = check_arguments(ip, *f, callee + 1, argc, ctx); status != RunStatus::Finished) FAIL(status);
  }
  size_t nargs = argc;
  if (f->bound) { // self takes the function value's place, before the arguments
    *callee = f->self;
    nargs++;
  } else {
    std::copy(callee + 1, sp, callee);
    --sp;
  }
  if (nargs != fn.arity) ERROR("type_error", "wrong number of arguments to a function value");
  SAVE();
  if (!enter(f->function, nargs)) FAIL(stack_overflow());
  Value* locals = m_stack + m_frames[m_frame_count - 1].base;
  for (size_t i = 0; i < f->captures.size(); i++) locals[fn.capture_slots[i]] = f->captures[i];
  RELOAD();
  DISPATCH();
}
op_INTERRUPTED: {
  // Reached through an interrupted entry (DispatchTable::interrupt): give
  // the worker back, resuming at the instruction that was about to run.
  ip--;
  SAVE();
  return RunStatus::Yielded;
}

#undef READ_U8
#undef READ_U16
#undef SAVE
#undef RELOAD
#undef DISPATCH
#undef FAIL
#undef ERROR
#undef TYPE_ERROR
#undef MAYBE_COLLECT
#undef BITWISE
#undef COMPARE
#undef JUMP_UNLESS
#undef TYPED_COMPARE
}

namespace {
// value_has_type's walk. Deep checks of shared structure (the same array
// reachable along many paths, a DAG) would take exponential time unfolded:
// after kMemoFrom object visits every (object, type) answer is remembered,
// so each is computed once. (A pair cannot recur while it is being computed:
// each step goes to an element type, and types are finite, non-recursive
// trees, so the walk is as deep as the type at most, even over a cycle.)
struct TypeCheck {
  static constexpr size_t kMemoFrom = 64;
  const CompiledProgram& p;
  CancelCheck& cc;
  size_t visited = 0;
  using Key = std::pair<const Object*, int64_t>; // (object, type)
  // Per pair: kNo, kYes, kUnknown (decided once but not kept), or
  // kDeciding + its depth among the pairs being decided.
  static constexpr uint32_t kNo = 0, kYes = 1, kUnknown = 2, kDeciding = 3;
  FlatMap<Key, uint32_t, PointerPairHash> memo{Key(nullptr, 0)};
  uint32_t deciding = 0;         // pairs being decided (recursive aliases)
  uint32_t lowest = UINT32_MAX;  // the shallowest of them an answer leaned on

  bool has(Value v, lang::TypeId t) {
    using K = lang::TypeKind;
    const lang::Type& ty = p.types.get(t);
    switch (ty.kind) {
    case K::Any: return true;
    case K::Alias:
    case K::Stream: return false; // get() sees through them
    case K::Never: return false;
    case K::Null: return v.tag == Tag::Null;
    case K::Bool: return v.tag == Tag::Bool;
    case K::Int: return v.tag == Tag::Int;
    case K::Float: return v.tag == Tag::Float;
    case K::String: return v.tag == Tag::String;
    case K::Class: return v.tag == Tag::Instance && int32_t(v.as_instance()->class_id) == ty.decl;
    case K::Enum: return v.tag == Tag::Enum && int32_t(v.enum_id()) == ty.decl;
    case K::Function: {
      if (v.tag != Tag::Function) return false;
      const FunctionObj* f = v.as_function();
      const FunctionInfo& fn = p.functions[f->function];
      size_t skip = f->bound ? 1 : 0;
      if (fn.param_types.size() - skip + 1 != ty.args.size()) return false;
      for (size_t i = 0; i + 1 < ty.args.size(); i++)
        if (!p.types.assignable(ty.args[i], fn.param_types[i + skip])) return false;
      return p.types.assignable(fn.return_type, ty.args.back());
    }
    case K::Future: return v.tag == Tag::Future; // (its result's type is the checker's: a future is looked at when awaited)
    case K::TaskGroup: return v.tag == Tag::TaskGroup;
    case K::CancelToken: return v.tag == Tag::CancelToken;
    case K::Literal:
      if (ty.args[0] == lang::TypeTable::STRING) return v.tag == Tag::String && v.as_string()->text == ty.literal;
      if (ty.args[0] == lang::TypeTable::INT) return v.tag == Tag::Int && std::to_string(v.i) == ty.literal;
      return v.tag == Tag::Bool && (v.b ? "true" : "false") == ty.literal;
    case K::Array:
    case K::Map: return has_elements(v, t, ty);
    case K::Union:
      for (lang::TypeId m : ty.args)
        if (has(v, m)) return true;
      return false;
    }
    return false;
  }

  bool has_elements(Value v, lang::TypeId t, const lang::Type& ty) {
    bool array = ty.kind == lang::TypeKind::Array;
    if (v.tag != (array ? Tag::Array : Tag::Map)) return false;
    if (!p.types.has_aliases()) {
      if (++visited <= kMemoFrom) return elements(v, ty, array);
      Key key(v.obj, t);
      if (uint32_t* known = memo.find(key)) return *known == kYes;
      bool r = elements(v, ty, array);
      memo.insert(key, r ? kYes : kNo);
      return r;
    }
    // A recursive alias lets a cyclic value (an array holding itself) meet
    // a pair again while it is being decided: it is assumed to fit there
    // (the pair's own other checks decide). A "no" is final whatever was
    // assumed (assuming "yes" only adds yeses); a "yes" that leaned on a
    // pair still being decided further up is not kept, since that pair may
    // yet turn out "no".
    Key key(v.obj, t);
    uint32_t* known = memo.find(key);
    if (known && *known != kUnknown) {
      if (*known == kYes || *known == kNo) return *known == kYes;
      lowest = std::min(lowest, *known - kDeciding); // an assumption
      return true;
    }
    uint32_t index = deciding++;
    if (known) *known = kDeciding + index;
    else memo.insert(key, kDeciding + index);
    uint32_t outer = lowest;
    lowest = UINT32_MAX;
    bool r = elements(v, ty, array);
    deciding--;
    bool leaned = lowest < index;
    lowest = std::min(outer, lowest);
    *memo.find(key) = !r ? kNo : leaned ? kUnknown : kYes;
    return r;
  }

  bool elements(Value v, const lang::Type& ty, bool array) {
    const std::vector<Value>& items = array ? v.as_array()->items : v.as_map()->values;
    lang::TypeId elem = ty.args[array ? 0 : 1];
    for (Value x : items) {
      cc.items();
      if (!has(x, elem)) return false;
    }
    return true;
  }
};
} // namespace

bool value_has_type(const CompiledProgram& p, Value v, lang::TypeId t, const std::atomic<uint32_t>* cancel_state) {
  CancelCheck cc(cancel_state);
  TypeCheck check{p, cc};
  return check.has(v, t);
}

} // namespace brake::vm
