/*
** brake.h: the C interface to the brake engine.
**
** This header is the specification. Every function below says what it does,
** who owns what it returns, which threads may call it and what it returns on
** failure. The Node addon uses nothing but this header, so any FFI host (C,
** Python ctypes, Rust) gets exactly what Node gets.
**
** Overview
**
**   brake_program   compiled source (immutable, may back many engines)
**   brake_engine    worker threads + call table running one program
**   brake_value     a value tree crossing the ABI (arguments and results)
**   brake_token     a cancellation token that may be shared by many calls
**   brake_result    the outcome of one call, seen by its completion callback
**
**   brake_program* prog;
**   if (brake_program_compile(src, len, "main.baml", &prog) != BRAKE_OK) {
**     for (size_t i = 0; i < brake_program_diagnostic_count(prog); i++) ...
**   }
**   brake_engine* eng;
**   brake_engine_create(prog, NULL, &eng);
**   brake_program_free(prog);              // the engine keeps its own reference
**   brake_call_start(eng, 7, "main", args, nargs, NULL, on_done, ctx);
**   brake_cancel(eng, 7);                  // from any thread
**   brake_engine_close(eng);               // cancels live calls, joins threads
**   brake_engine_free(eng);
**
** Threads
**
**   Functions marked "any thread" may be called concurrently from any thread.
**   The others may be called from any thread too but not concurrently on the
**   same handle (the host serialises them), except where stated.
**
** Errors
**
**   Functions that can fail return an int status from brake_status_h's list
**   (BRAKE_OK is 0). When a function fails, brake_last_error() on the same
**   thread returns a message explaining the failure.
**
** Calls complete exactly once
**
**   When brake_call_start returns BRAKE_OK the completion callback will run
**   exactly once, whatever happens (value, error, cancel, timeout, close).
**   When it returns anything else the callback never runs.
*/
#ifndef BRAKE_H
#define BRAKE_H

#include <stddef.h>
#include <stdint.h>

#include "brake_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(BRAKE_BUILDING_DLL)
#define BRAKE_API __declspec(dllexport)
#elif defined(__GNUC__)
#define BRAKE_API __attribute__((visibility("default")))
#else
#define BRAKE_API
#endif

/* ---------------------------------------------------------------- version */

#define BRAKE_VERSION_MAJOR 0
#define BRAKE_VERSION_MINOR 1
#define BRAKE_VERSION_PATCH 0
#define BRAKE_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH */
#define BRAKE_VERSION_NUMBER 1000

/* Run-time twins of the macros above, so a host can check that the header it
** was compiled with matches the library it loaded. Any thread. */
BRAKE_API const char* brake_version(void);
BRAKE_API int brake_version_number(void);

/* ---------------------------------------------------------------- status */

typedef enum brake_status {
#define BRAKE_STATUS_ENUM_(name, value, message) BRAKE_##name = value,
  BRAKE_STATUS_MAP(BRAKE_STATUS_ENUM_)
#undef BRAKE_STATUS_ENUM_
  BRAKE_STATUS_COUNT_
} brake_status;

/* "OK", "MISUSE", ... for a status; "UNKNOWN" for a value not in the list.
** The string is static. Any thread. */
BRAKE_API const char* brake_status_name(int status);
/* The fixed message of a status ("out of memory"). Static. Any thread. */
BRAKE_API const char* brake_status_message(int status);
/* Explanation of the most recent failure of a brake_ function on the calling
** thread ("function 'mian' is not defined"). Valid until the next brake_ call
** on this thread. Never NULL; "" when nothing failed. */
BRAKE_API const char* brake_last_error(void);

/* ---------------------------------------------------------------- values */

typedef struct brake_value brake_value;

typedef enum brake_kind {
  BRAKE_KIND_NULL = 0,
  BRAKE_KIND_BOOL = 1,
  BRAKE_KIND_INT = 2,    /* 64-bit signed */
  BRAKE_KIND_FLOAT = 3,  /* IEEE double; distinct from INT, never converted */
  BRAKE_KIND_STRING = 4, /* UTF-8, length-counted, may contain NUL */
  BRAKE_KIND_ARRAY = 5,
  BRAKE_KIND_MAP = 6,     /* string keys, insertion order kept */
  BRAKE_KIND_INSTANCE = 7, /* class instance: a type name and ordered fields */
  BRAKE_KIND_ENUM = 8      /* enum variant: a type name and a variant name */
} brake_kind;

/* Arguments are checked against the declared parameter types with two
** allowances for hosts whose numbers are all doubles (JavaScript): an INT is
** accepted where a float is declared (it becomes that float), and a FLOAT
** -0.0 where an int is declared (it becomes 0). Such a host sends -0 as a
** FLOAT, so `f(x: float)` receives -0.0 and `g(n: int)` receives 0. */

/* Constructors. Each returns a new value owned by the caller (free it with
** brake_value_free, or hand it to a function documented as taking ownership),
** or NULL when out of memory. Any thread. */
BRAKE_API brake_value* brake_value_null(void);
BRAKE_API brake_value* brake_value_bool(int b);
BRAKE_API brake_value* brake_value_int(int64_t i);
BRAKE_API brake_value* brake_value_float(double f);
/* Copies `len` bytes. Returns BRAKE_INVALID_ARGUMENT (and *out = NULL) if the
** bytes are not valid UTF-8, BRAKE_MISUSE if out is NULL or (s is NULL and
** len > 0). */
BRAKE_API int brake_value_string(const char* s, size_t len, brake_value** out);
BRAKE_API brake_value* brake_value_array(void);
BRAKE_API brake_value* brake_value_map(void);
/* An instance of class `type_name` with no fields yet; add fields with
** brake_value_map_set. Same UTF-8 rule as brake_value_string. */
BRAKE_API int brake_value_instance(const char* type_name, brake_value** out);
/* Variant `variant` of enum `type_name`. */
BRAKE_API int brake_value_enum(const char* type_name, const char* variant, brake_value** out);

/* Appends `item` to array `arr`, taking ownership of `item` even on failure.
** BRAKE_MISUSE if arr is not an array or either is NULL. */
BRAKE_API int brake_value_array_push(brake_value* arr, brake_value* item);
/* Sets key -> item in a map or instance, taking ownership of `item` even on
** failure. An existing key is replaced in place (order kept). Keys must be
** valid UTF-8 (BRAKE_INVALID_ARGUMENT otherwise). */
BRAKE_API int brake_value_map_set(brake_value* map, const char* key, size_t key_len,
                                  brake_value* item);

/* Frees a value and everything it owns. NULL is a no-op. */
BRAKE_API void brake_value_free(brake_value* v);
/* A deep copy owned by the caller, or NULL when out of memory or v is NULL. */
BRAKE_API brake_value* brake_value_clone(const brake_value* v);

/* Accessors. They never fail: on a NULL value or the wrong kind they return
** 0, 0.0, NULL or an empty string as stated. Borrowed pointers live as long as
** the value. Any thread that may read the value. */
BRAKE_API brake_kind brake_value_kind(const brake_value* v); /* NULL -> KIND_NULL */
BRAKE_API int brake_value_get_bool(const brake_value* v);
BRAKE_API int64_t brake_value_get_int(const brake_value* v);
BRAKE_API double brake_value_get_float(const brake_value* v);
/* STRING: its bytes; ENUM: the variant name; else NULL. *len (if non-NULL)
** gets the byte length. The bytes are also NUL-terminated. */
BRAKE_API const char* brake_value_get_string(const brake_value* v, size_t* len);
/* INSTANCE and ENUM: the class or enum name; else NULL. */
BRAKE_API const char* brake_value_type_name(const brake_value* v);
/* ARRAY: element count; MAP and INSTANCE: entry count; else 0. */
BRAKE_API size_t brake_value_length(const brake_value* v);
/* ARRAY element i, or NULL if out of range. */
BRAKE_API const brake_value* brake_value_array_get(const brake_value* v, size_t i);
/* MAP/INSTANCE entry i (insertion order): key bytes and value, or NULL. */
BRAKE_API const char* brake_value_map_key(const brake_value* v, size_t i, size_t* len);
BRAKE_API const brake_value* brake_value_map_value(const brake_value* v, size_t i);
/* MAP/INSTANCE lookup by key, or NULL. */
BRAKE_API const brake_value* brake_value_map_find(const brake_value* v, const char* key,
                                                  size_t key_len);

/* Renders a value in brake's display format into a new NUL-terminated string
** owned by the caller (free with brake_string_free). The format:
**   null | true | false | 42 | -7            null, bool, int
**   2.0  0.1  1e+300  inf  nan              float: shortest round-trip text,
**                                           always with '.', 'e', "inf" or "nan"
**   "a\"b\n"                                string: JSON-style escapes
**   [1, 2]  []                              array
**   {"k": 1, "j": [2]}  {}                  map (insertion order)
**   Point {x: 1, y: "a"}  Point {}          instance
**   Color.Red                               enum variant
** BRAKE_MISUSE if out is NULL. A NULL value renders as null. Any thread. */
BRAKE_API int brake_value_format(const brake_value* v, char** out);
/* Frees a string returned by brake_value_format or brake_program_disassemble. */
BRAKE_API void brake_string_free(char* s);

/* ---------------------------------------------------------------- programs */

typedef struct brake_program brake_program;

/* Compiles `len` bytes of BAML source. `file_name` (may be NULL: "<source>")
** appears in diagnostics.
**
** Always sets *out to a new program owned by the caller (free it with
** brake_program_free), unless out is NULL (BRAKE_MISUSE) or memory runs out
** (BRAKE_NO_MEMORY, *out = NULL). Returns BRAKE_COMPILE_ERROR when the
** source has errors; the program then holds every diagnostic found (not just
** the first) and cannot back an engine. Empty source, invalid UTF-8 and a
** source over 16 MiB are compile errors, as are programs beyond the
** bytecode's limits (65,535 classes, fields per class and functions; 65,536
** constants per function; and the others listed in the README). Any thread; the result is immutable and may be shared. */
BRAKE_API int brake_program_compile(const char* source, size_t len, const char* file_name,
                                    brake_program** out);
BRAKE_API void brake_program_free(brake_program* p); /* NULL is a no-op */

/* A function the host provides to scripts, declared before compiling: its
** name (an identifier) and a BAML signature, "(id: int, tags: string[]) ->
** User?", whose types may name the program's classes and enums. Scripts call
** it like any function, and the checker checks those calls statically; each
** engine binds it to an implementation (brake_host_binding). */
typedef struct brake_host_decl {
  const char* name;
  const char* signature;
} brake_host_decl;

typedef struct brake_compile_options {
  uint32_t struct_size; /* set by brake_compile_options_init */
  /* Host functions the program may call (may be NULL when the count is 0).
  ** Errors in a signature are diagnostics whose file is "<host function
  ** NAME>"; a host function may not share its name with a function of the
  ** program. */
  const brake_host_decl* host_functions;
  size_t host_function_count;
} brake_compile_options;

BRAKE_API void brake_compile_options_init(brake_compile_options* o);

/* brake_program_compile with options (NULL: none). BRAKE_INVALID_ARGUMENT
** (and *out = NULL) for options with a wrong struct_size or a NULL name or
** signature. Otherwise as brake_program_compile. Any thread. */
BRAKE_API int brake_program_compile_with(const char* source, size_t len, const char* file_name,
                                         const brake_compile_options* options, brake_program** out);

/* Diagnostics: count, then each one's file, 1-based line and column and
** message. Strings live as long as the program. Out-params may be NULL.
** Returns BRAKE_MISUSE for a NULL program or an index out of range. */
BRAKE_API size_t brake_program_diagnostic_count(const brake_program* p);
BRAKE_API int brake_program_diagnostic(const brake_program* p, size_t i, const char** file,
                                       uint32_t* line, uint32_t* column, const char** message);

/* Functions the program declares, in source order: their count, the i-th
** name, its parameter count and i-th parameter name (for named arguments).
** NULL / 0 when out of range. Strings live as long as the program. */
BRAKE_API size_t brake_program_function_count(const brake_program* p);
BRAKE_API const char* brake_program_function_name(const brake_program* p, size_t i);
BRAKE_API size_t brake_program_function_param_count(const brake_program* p, size_t i);
BRAKE_API const char* brake_program_function_param_name(const brake_program* p, size_t i,
                                                        size_t param);
/* The i-th function's signature, parameters and return type, in source
** syntax: "(text: string, n: int?) -> Person[]" (a union with null as T?,
** union members in the order the program first wrote that union). Made on
** the first request; NULL when out of range or memory runs out. Any thread. */
BRAKE_API const char* brake_program_function_signature(const brake_program* p, size_t i);
/* 1 when the i-th function is an LLM function (a client and a prompt), else 0. */
BRAKE_API int brake_program_function_is_llm(const brake_program* p, size_t i);
/* The program's declarations as JSON, for code generators (the `brake
** generate` command writes typed TypeScript from it): a new NUL-terminated
** string owned by the caller (brake_string_free), with every type in source
** syntax (as brake_program_function_signature writes them):
**   {"functions": [{"name", "params": [{"name", "type"}], "returns", "llm"}],
**    "classes": [{"name", "fields": [{"name", "type", "alias"?, "description"?}]}],
**    "enums": [{"name", "variants": [{"name", "alias"?, "skip"?}]}],
**    "aliases": [{"name", "type"}]}        (recursive type aliases)
** in declaration order (the built-in classes, media and baml.http.Response,
** left out). BRAKE_MISUSE for a NULL program or out, or a
** program with diagnostics; BRAKE_NO_MEMORY. Any thread. */
BRAKE_API int brake_program_describe(const brake_program* p, char** out);
/* Host functions the program declares, in the order they were declared:
** their count, the i-th name and its signature as given. NULL / 0 when out
** of range. */
BRAKE_API size_t brake_program_host_function_count(const brake_program* p);
BRAKE_API const char* brake_program_host_function_name(const brake_program* p, size_t i);
BRAKE_API const char* brake_program_host_function_signature(const brake_program* p, size_t i);

/* Writes a human-readable disassembly of every function's bytecode to a new
** NUL-terminated string owned by the caller (free with brake_string_free). */
BRAKE_API int brake_program_disassemble(const brake_program* p, char** out);

/* ---------------------------------------------------------------- tokens */

typedef struct brake_token brake_token;

/* A cancellation token: cancelling it cancels every live call started with it
** (origin BRAKE_ORIGIN_TOKEN), and a call started with an already-cancelled
** token settles as cancelled without running any code. One token may serve
** any number of calls in any number of engines. Reference-counted: the
** creator holds one reference, each live call holds one. Any thread. */
BRAKE_API brake_token* brake_token_new(void);
/* Cancels the token (idempotent). Returns how many live calls it flagged.
** Any thread, any time. */
BRAKE_API size_t brake_token_cancel(brake_token* t);
BRAKE_API int brake_token_is_cancelled(const brake_token* t);
/* Drops the caller's reference. NULL is a no-op. */
BRAKE_API void brake_token_free(brake_token* t);

/* ---------------------------------------------------------------- engines */

typedef struct brake_engine brake_engine;
typedef uint64_t brake_call_id;

/* The largest values brake_engine_create and brake_call_start accept (the
** Node API refuses the same values, with the same words). */
#define BRAKE_MAX_WORKER_THREADS 256
#define BRAKE_MAX_CALL_DEPTH 100000
/* 365 days: no wait of the engine is longer (sleeps are clamped to it). */
#define BRAKE_MAX_TIMEOUT_MS 31536000000ULL

typedef enum brake_origin {
  BRAKE_ORIGIN_NONE = 0,    /* not cancelled */
  BRAKE_ORIGIN_CANCEL = 1,  /* brake_cancel */
  BRAKE_ORIGIN_TOKEN = 2,   /* a brake_token the call was started with */
  BRAKE_ORIGIN_TIMEOUT = 3, /* the call's own deadline (status BRAKE_TIMEOUT) */
  BRAKE_ORIGIN_CLOSE = 4,   /* brake_engine_close */
  BRAKE_ORIGIN_PARENT = 5   /* a parent call or task */
} brake_origin;

/* ---------------------------------------------------------------- host functions
**
** When a script calls a host function, its call waits and the engine hands
** the host a brake_host_call: an operation with its own id (never 0, never
** reused by the engine), the calling call's id, the function's name and the
** arguments (converted like results, so a class instance is an INSTANCE).
** The host answers it exactly once, from any thread, at any later time (or
** inside the callback): brake_host_complete with a value, or
** brake_host_fail with a message and an optional code. The value is
** checked against the declared return type: a mismatch fails the call with
** a script error of kind "type_error" naming the function; a failure fails
** it with kind "host_error", the host's message and code
** (brake_result_error_code).
**
** Cancellation. When the calling call is cancelled (any origin) while it
** waits, it settles as cancelled at once, without waiting for the host, and
** the binding's `cancel` callback is told (with the origin) so the host can
** stop its work; answering afterwards is harmless (BRAKE_NOT_FOUND). A call
** cancelled before its host call was handed over never reaches the host,
** and then neither does the cancel. brake_host_call_finished polls the
** same: 1 once the operation is answered or cancelled.
**
** Threads. The `call` and `cancel` callbacks run where completion callbacks
** run (brake_engine_options.notify): on a worker thread, or inside
** brake_engine_drain on the host's thread, in order with the call's other
** events (a host call, then maybe its cancel, then the completion). They
** must not block for long; they may call brake_host_complete/fail,
** brake_call_start, brake_cancel and brake_token_* (a host function may
** start calls on the same engine). */

typedef struct brake_host_call brake_host_call; /* valid during the callback only */
typedef uint64_t brake_op_id;

typedef void (*brake_host_fn)(void* user_data, const brake_host_call* call);
typedef void (*brake_host_cancel_fn)(void* user_data, brake_op_id op, brake_origin origin);

/* Binds a declared host function (by name) to its implementation. `cancel`
** may be NULL (the host polls, or does not stop early). */
typedef struct brake_host_binding {
  const char* name;
  brake_host_fn call;
  brake_host_cancel_fn cancel;
  void* user_data;
} brake_host_binding;

/* Accessors of a host call; borrowed pointers live until the callback
** returns (copy arguments with brake_value_clone to keep them). */
BRAKE_API brake_op_id brake_host_call_op(const brake_host_call* c);
BRAKE_API brake_call_id brake_host_call_call_id(const brake_host_call* c);
/* The `user_data` the calling call was started with (brake_call_start). */
BRAKE_API void* brake_host_call_user_data(const brake_host_call* c);
BRAKE_API const char* brake_host_call_function(const brake_host_call* c);
/* The function's index in brake_program_host_function_name's order. */
BRAKE_API size_t brake_host_call_function_index(const brake_host_call* c);
BRAKE_API size_t brake_host_call_arg_count(const brake_host_call* c);
BRAKE_API const brake_value* brake_host_call_arg(const brake_host_call* c, size_t i);

/* Answers operation `op` of engine `e` with `value` (borrowed: copied; NULL
** means null). BRAKE_OK when the operation was pending (the script goes on
** with the value, or fails if it does not fit the declared type);
** BRAKE_NOT_FOUND when it is unknown, already answered, or cancelled (a
** harmless no-op); BRAKE_MISUSE for a NULL engine. Any thread. */
BRAKE_API int brake_host_complete(brake_engine* e, brake_op_id op, const brake_value* value);
/* Answers `n` operations at once: ops[i] with values[i], taking ownership
** of every value (each is freed by the engine, whatever happens to its
** operation; `values` may be NULL, and values[i] NULL, for null). Cheaper
** than n brake_host_complete calls: no copies, one lock and one wake-up per
** worker. statuses (may be NULL) gets each one's status: BRAKE_OK,
** BRAKE_NOT_FOUND, or BRAKE_NO_MEMORY (not taken: still pending, answer it
** again). Returns how many were taken. With statuses NULL it is cheaper
** still: nothing is looked up on the calling thread, each operation's worker
** takes its value if the operation is still pending and drops it otherwise,
** and the return value is how many values were handed over. Out of memory
** part-way, the values not yet handed over are freed and their operations
** stay pending (answer them again). For a NULL engine or ops it returns 0,
** frees the values and writes no status. Any thread. */
BRAKE_API size_t brake_host_complete_all(brake_engine* e, const brake_op_id* ops, brake_value* const* values, size_t n,
                                         int* statuses);
/* Answers operation `op` with a failure: `message` (NULL: "") and `code`
** (NULL: none), both copied. Same statuses as brake_host_complete. */
BRAKE_API int brake_host_fail(brake_engine* e, brake_op_id op, const char* message, const char* code);
/* The host transport's streamed body: for a baml.http.fetch host call whose
** argument 6 (stream) is true, the host may hand over the body of a 2xx
** response (only: the engine reads every part as the reply's event stream)
** in parts as it arrives, `len` bytes at a time (copied), before answering
** the operation as usual (its body then holds what was not handed over,
** often ""). Parts of a call with stream false are not read; parts past
** max_response_bytes fail the attempt. BRAKE_OK when the operation is
** pending (the part is on its way; it is dropped if the call stops waiting
** meanwhile); BRAKE_NOT_FOUND when it is unknown, answered or cancelled;
** BRAKE_NO_MEMORY when the part could not be queued (the reply now has a
** gap: fail the operation); BRAKE_MISUSE for a NULL engine, or NULL bytes
** with len > 0. Any thread. */
BRAKE_API int brake_host_part(brake_engine* e, brake_op_id op, const char* bytes, size_t len);
/* 1 when operation `op` is unknown, answered or cancelled; 0 while pending.
** Any thread. */
BRAKE_API int brake_host_call_finished(const brake_engine* e, brake_op_id op);
/* Host calls pending (handed over or about to be, not yet answered or
** cancelled; an answer handed to a worker by brake_host_complete_all counts
** until the worker takes it): 0 once everything has settled. Any thread. */
BRAKE_API size_t brake_engine_pending_host_calls(const brake_engine* e);

typedef struct brake_engine_options {
  /* Set by brake_engine_options_init; lets the struct grow compatibly. */
  uint32_t struct_size;
  /* Worker threads the engine starts and owns. 0 = number of cores; at most
  ** BRAKE_MAX_WORKER_THREADS. */
  uint32_t worker_threads;
  /* Completion delivery. When NULL, each call's completion callback runs on
  ** the worker thread that finished the call. When set, completions are
  ** queued in the engine's one completion queue and `notify` is called (from
  ** a worker thread, with no engine lock held) when that queue goes from
  ** empty to non-empty; the host then calls brake_engine_drain on its own
  ** thread, which runs the callbacks of everything pending. `notify` is not
  ** called again until a drain has emptied the queue (coalesced). One
  ** exception: when brake_cancel or brake_token_cancel finishes calls in
  ** place (see brake_cancel), `notify` is called on the cancelling thread
  ** before that function returns, whether or not the queue was empty; the
  ** Node addon uses this to deliver them at once. */
  void (*notify)(void* notify_data);
  void* notify_data;
  /* Maximum script call depth before a stack-overflow script error. 0 = 1000;
  ** at most BRAKE_MAX_CALL_DEPTH. */
  uint32_t max_call_depth;
  /* Implementations of the program's host functions (brake_host_decl), one
  ** per declared function; the array and names are read during
  ** brake_engine_create only. A declared function left unbound, a binding
  ** for an undeclared name, a duplicate or a NULL `call` is
  ** BRAKE_INVALID_ARGUMENT. */
  const brake_host_binding* host_functions;
  size_t host_function_count;
  /* Memory limits in bytes; 0 = unlimited (only when asked for: the
  ** defaults set by brake_engine_options_init are BRAKE_DEFAULT_CALL_MEMORY_LIMIT
  ** and BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT). Everything a script allocates
  ** counts against both: strings, arrays, maps, instances, its stack, and the
  ** value it returns as it is converted for the host. An allocation that
  ** would pass either limit is not made: the call fails with a script error
  ** of kind "out_of_memory" naming the limit, and other calls go on. A call
  ** draws on the engine's total in steps that grow with it (1 KiB while it
  ** holds up to 16 KiB, then 16 KiB, 256 KiB past 1 MiB, 4 MiB past 64 MiB).
  ** A call whose arguments alone pass the per-call limit is refused by
  ** brake_call_start (BRAKE_INVALID_ARGUMENT). */
  uint64_t call_memory_limit;
  uint64_t engine_memory_limit;
  /* HTTP for scripts (baml.http.fetch; README "HTTP").
  **
  ** `http_transport` is the host transport: when its `call` is set, each
  ** request is handed to the host as a host call (brake_host_call) whose
  ** function is "baml.http.fetch", with function index
  ** brake_program_host_function_count(program), and whose arguments are
  **   0 url: string          (absolute http:// or https://, checked)
  **   1 method: string       ("GET", "POST", ...)
  **   2 headers: map         (string values; names as the script wrote them)
  **   3 body: string or null
  **   4 timeout_ms: int      (0 = none; the engine also enforces it)
  **   5 max_response_bytes: int (0 = unlimited)
  **   6 stream: bool         (a streamed LLM call's request: a 2xx body may
  **                           come in parts, brake_host_part)
  ** The host answers with brake_host_complete and a MAP {status: int
  ** (100-999), url: string (the final URL; "" = the request's), headers: MAP
  ** of strings, body: STRING (UTF-8, like every string value: the transport
  ** decodes other bytes as U+FFFD)}, or with brake_host_fail when no
  ** response arrived (refused, DNS, TLS, a body over max_response_bytes,
  ** which the transport counts in bytes as received): the script
  ** then sees a response with status_code 0 and `error` = the message. A
  ** cancel of the call reaches `cancel` as for host functions; when the
  ** request's timeout passes first, the engine answers the script itself
  ** (status_code 0, "timed out") and cancels the host call with origin
  ** BRAKE_ORIGIN_TIMEOUT. `name` is ignored. With `call` NULL, requests go
  ** to the native transport (libcurl on the engine's workers) when this build
  ** has it, else fetch fails with BRAKE_HTTP_ERROR, kind "http_unavailable". */
  brake_host_binding http_transport;
  /* A request's timeout when it gives none (its timeout_ms option); 0 = none. */
  uint64_t http_timeout_ms;
  /* Responses with a longer body fail (status_code 0); 0 = unlimited.
  ** Default BRAKE_DEFAULT_HTTP_MAX_RESPONSE_BYTES. */
  uint64_t http_max_response_bytes;
  /* Hosts scripts may reach: NULL = every host; otherwise the first
  ** http_allowed_host_count entries (0: none at all). Each is a
  ** host name ("api.example.com"), "*.example.com" (its subdomains), or an
  ** IP literal ("127.0.0.1", "[::1]"), each with an optional ":port". A
  ** request to another host fails, before any connection or DNS lookup,
  ** with a script error of kind "network_policy". Copied; a malformed rule
  ** is BRAKE_INVALID_ARGUMENT. */
  const char* const* http_allowed_hosts;
  size_t http_allowed_host_count;
  /* The native transport (when http_transport.call is NULL and this build
  ** has libcurl: brake_http_native_available()): CA certificates (PEM) to
  ** trust instead of the system's store, NULL for the system's. Copied. */
  const char* http_ca_pem;
  /* Redirects followed per request (3xx with a Location), each hop checked
  ** against http_allowed_hosts before it is sent; 0 (the default) = none: a
  ** 3xx is the response. 301/302/303 turn a non-GET/HEAD request into a GET
  ** without body; 307/308 keep it. The request's timeout covers every hop. */
  uint32_t http_max_redirects;
  /* The native transport's connection phase (the host-name lookup, TCP and
  ** TLS), when a request gives none (its connect_timeout_ms option); 0 = the
  ** default, 300 s (libcurl's). */
  uint64_t http_connect_timeout_ms;
  /* The native transport's clients. 0 (the default): plain-HTTP requests,
  ** with no proxy set in the environment (http_proxy, all_proxy, ALL_PROXY),
  ** go through brake's own HTTP/1.1 client; HTTPS, proxies, credentials in
  ** the URL and requests that set transfer-encoding or expect go through
  ** libcurl. Host names are looked up by the engine for both (a cancel never
  ** waits for a lookup), except a proxy's.
  ** Nonzero: every request goes through libcurl. Both give the same script
  ** API; README "HTTP" says where they differ (error messages). */
  int http_libcurl_only;
  /* The environment scripts may read (env.NAME, env.get("NAME"),
  ** env.get_or_panic("NAME")): env_count names and their values, copied.
  ** Nothing else: the process environment is not read unless the host
  ** passes it here. A NULL value leaves its name unset; a NULL name or a
  ** name given twice is BRAKE_INVALID_ARGUMENT. Reading a name that is not
  ** set is a script error of kind "missing_env" naming it (env.get gives
  ** null instead). */
  const char* const* env_names;
  const char* const* env_values;
  size_t env_count;
  /* baml.sys.shell(command) (README "The language"): nonzero lets scripts run
  ** `/bin/sh -c command` (stdin /dev/null, the environment above and nothing
  ** else, in a process group of its own) and take its stdout; a command that
  ** exits nonzero is a script error of kind "shell_error", "exit code N" and
  ** an excerpt of its stderr; output over 16 MiB kills it. A cancel of the
  ** call kills the whole process group with SIGKILL and the call settles at
  ** once. 0 (the default): every call of it is a script error of kind
  ** "shell_disabled". */
  int allow_shell;
} brake_engine_options;

#define BRAKE_DEFAULT_CALL_MEMORY_LIMIT ((uint64_t)256 << 20)   /* 256 MiB */
#define BRAKE_DEFAULT_ENGINE_MEMORY_LIMIT ((uint64_t)1 << 30)   /* 1 GiB */
#define BRAKE_DEFAULT_HTTP_MAX_RESPONSE_BYTES ((uint64_t)64 << 20) /* 64 MiB */

BRAKE_API void brake_engine_options_init(brake_engine_options* o);

/* Whether this build has the native HTTP transport (libcurl, driven by the
** engine's worker threads). Without it, and without a host transport,
** baml.http.fetch fails with BRAKE_HTTP_ERROR, kind "http_unavailable". */
BRAKE_API int brake_http_native_available(void);

/* Native HTTP transfers in flight (0 once every request has ended: for
** tests that nothing leaks). Any thread. */
BRAKE_API size_t brake_engine_http_transfers(const brake_engine* e);

/* Sockets the native HTTP transport has open: those of transfers in flight
** and idle keep-alive connections kept for reuse (each worker keeps its own;
** they close when the engine closes). A failed transfer's socket is closed
** before its call goes on; a cancelled call's is closed by its worker right
** after the call's completion is delivered (microseconds later). The host transport's
** sockets belong to the host and are not counted. Any thread. */
BRAKE_API size_t brake_engine_http_sockets(const brake_engine* e);

/* Creates an engine running `program` (the engine takes its own reference;
** the caller may free the program at once). `options` may be NULL.
** BRAKE_MISUSE if program or out is NULL or the program has diagnostics;
** BRAKE_INVALID_ARGUMENT for bad options (a wrong struct_size,
** worker_threads above BRAKE_MAX_WORKER_THREADS, max_call_depth above
** BRAKE_MAX_CALL_DEPTH). Any thread. */
BRAKE_API int brake_engine_create(const brake_program* program, const brake_engine_options* options,
                                  brake_engine** out);

/* ---------------------------------------------------------------- calls */

typedef struct brake_result brake_result;

/* Runs exactly once per admitted call; see "Completion delivery" above for
** the thread. `result` and everything borrowed from it are valid only until
** the callback returns (copy with brake_value_clone to keep a value). The
** callback must not block for long; it may call brake_call_start, brake_cancel
** and brake_token_* but not brake_engine_close/free/drain. */
typedef void (*brake_completion_fn)(void* user_data, const brake_result* result);

/* ---------------------------------------------------------------- streams
**
** A call started with brake_call_options.stream reports, as it runs, what
** its LLM calls receive (its own LLM function's, or, for an expression
** function, those of every LLM function it calls): each attempt's start,
** the reply's text deltas as they arrive, and the best partial value of the
** return type so far. Its LLM requests then ask the provider to stream
** (clients with supports_streaming false are asked for whole replies, which
** arrive as one delta). The call's completion is unchanged: the final value
** (or failure) comes to the completion callback, after every stream event.
**
** Events of one call come in the order they happened, on the thread
** completion callbacks run on (brake_engine_options.notify), before the
** call's completion. A host that drains late gets them coalesced, never
** lost in substance: a PARTIAL not yet delivered is replaced by a newer one
** (the newest comes after the deltas it covers), and past 256 undelivered
** deltas the newest ones are appended to the last (text is never dropped).
**
** What a consumer may rely on: an ATTEMPT precedes the deltas of each
** attempt (attempt numbers start at 1 for each LLM function called); the
** DELTAs of an attempt, joined, are the text of the reply so far; a
** PARTIAL's value is what the text so far parses into (brake_parse with
** partial set; parsed again once the text grew by an eighth, and at the
** end: the last PARTIAL is the whole reply's). When an attempt fails before any delta of it was delivered,
** the next attempt starts over with a new ATTEMPT (retry and fallback apply
** only then); once a delta has been reported, a failure of that attempt
** (an error event, a malformed event, an early close) fails the call with
** BRAKE_LLM_ERROR, its attempt's error saying which.
**
** WATCH events come from `watch let` variables of every function the call
** runs: one when the declaration runs (its first value), then one for each
** change while the variable is in scope: an assignment of a value that is
** not == the old one, or a change (a field, an index, push, pop) to an
** object its value reaches, made through any alias. None once it has left
** its block (its end, break, continue, return). Past 256 undelivered WATCH
** events, a variable's undelivered WATCH is replaced by its newer one (which
** comes last), so a tight loop costs its worker one conversion of the value
** per change and the host a bounded batch per delivery. Calls without a stream report nothing
** and pay nothing for their watches. */

typedef enum brake_stream_kind {
  BRAKE_STREAM_ATTEMPT = 1, /* an attempt starts: function, client, attempt */
  BRAKE_STREAM_DELTA = 2,   /* text arrived: function, client, attempt, text */
  BRAKE_STREAM_PARTIAL = 3, /* the best partial value so far: function, value */
  BRAKE_STREAM_WATCH = 4    /* a `watch let` variable changed: function, name, value */
} brake_stream_kind;

typedef struct brake_stream_event brake_stream_event; /* valid during the callback only */

/* Runs once per stream event, see above; must not block for long; may call
** brake_cancel and brake_call_start (not brake_engine_close/free/drain). */
typedef void (*brake_stream_fn)(void* user_data, const brake_stream_event* event);

BRAKE_API brake_stream_kind brake_stream_event_kind(const brake_stream_event* ev);
/* The LLM function whose call the event is of, or (WATCH) the function
** whose variable it is (a borrowed string). */
BRAKE_API const char* brake_stream_event_function(const brake_stream_event* ev);
/* The client of the attempt (a primitive client's name); "" for PARTIAL and WATCH. */
BRAKE_API const char* brake_stream_event_client(const brake_stream_event* ev);
/* The attempt's number, from 1 (0 for PARTIAL). */
BRAKE_API uint32_t brake_stream_event_attempt(const brake_stream_event* ev);
/* DELTA: the text (UTF-8; *len, if not NULL, gets its length); "" otherwise. */
BRAKE_API const char* brake_stream_event_text(const brake_stream_event* ev, size_t* len);
/* PARTIAL, WATCH: the value (borrowed; NULL for a null value or another kind). */
BRAKE_API const brake_value* brake_stream_event_value(const brake_stream_event* ev);
/* WATCH: the variable's name (a borrowed string); "" otherwise. */
BRAKE_API const char* brake_stream_event_name(const brake_stream_event* ev);

typedef struct brake_call_options {
  uint32_t struct_size; /* set by brake_call_options_init */
  /* Deadline in milliseconds from admission; 0 = none. When it passes the
  ** call settles with BRAKE_TIMEOUT (origin BRAKE_ORIGIN_TIMEOUT). At most
  ** BRAKE_MAX_TIMEOUT_MS (365 days): brake_call_start refuses a larger one
  ** with BRAKE_INVALID_ARGUMENT rather than treat it as "never". */
  uint64_t timeout_ms;
  /* Optional token (may be NULL); the call holds a reference while live. */
  brake_token* token;
  /* Tags of the call (BAML's `tags` call option): what an LLM function's
  ** prompt reads as ctx.tags.NAME. tag_count pairs of UTF-8 strings, copied
  ** at the start; NULL arrays with tag_count > 0, a NULL name or value, or
  ** text that is not UTF-8 is BRAKE_INVALID_ARGUMENT. */
  const char* const* tag_names;
  const char* const* tag_values;
  size_t tag_count;
  /* Stream events of the call (see "streams" above), NULL: none (its LLM
  ** calls ask for whole replies). Called with stream_user_data. */
  brake_stream_fn stream;
  void* stream_user_data;
} brake_call_options;

BRAKE_API void brake_call_options_init(brake_call_options* o);

/* Starts a call of `function` with `nargs` positional arguments. The
** arguments are borrowed for the duration of this function only (they are
** copied; the caller still owns and frees them). `options` may be NULL.
**
** `id` is chosen by the caller: non-zero, and not the id of a live call of
** this engine (a call is live from admission until its completion callback
** has returned). On BRAKE_OK the callback runs exactly once.
**
** Failures (the callback never runs, nothing else is disturbed):
**   BRAKE_MISUSE            NULL engine, function or callback; args NULL with nargs > 0
**   BRAKE_INVALID_ARGUMENT  id 0; argument count or types do not match the
**                           declared parameters; a NULL argument; arguments
**                           that alone pass the call's memory limit
**   BRAKE_NO_MEMORY         out of memory, or the arguments do not fit in
**                           what the engine's memory limit has left; a wrong
**                           options->struct_size; options->timeout_ms above
**                           BRAKE_MAX_TIMEOUT_MS
**   BRAKE_UNKNOWN_FUNCTION  no such function
**   BRAKE_DUPLICATE_CALL_ID a live call has this id (the live call is untouched)
**   BRAKE_ENGINE_CLOSED     brake_engine_close has begun
** Exception: when options->token is already cancelled the call is admitted
** and settles as BRAKE_CANCELLED without looking up the function (its id is
** still checked for 0 and duplicates, and a closed engine still refuses it).
** Any thread. */
BRAKE_API int brake_call_start(brake_engine* e, brake_call_id id, const char* function,
                               const brake_value* const* args, size_t nargs,
                               const brake_call_options* options, brake_completion_fn done,
                               void* user_data);

/* Options of brake_engine_render_prompt (NULL: all defaults). */
typedef struct brake_render_options {
  uint32_t struct_size; /* set by brake_render_options_init */
  /* A primitive client's name; NULL or "": the first client the function's
  ** plan would ask. */
  const char* client;
  /* ctx.tags, as brake_call_options' tags. */
  const char* const* tag_names;
  const char* const* tag_values;
  size_t tag_count;
  /* Rendering runs on the calling thread: past this many milliseconds it
  ** stops with BRAKE_TIMEOUT (a template can loop for as long as it likes).
  ** 0 = none. At most BRAKE_MAX_TIMEOUT_MS. */
  uint64_t timeout_ms;
} brake_render_options;

BRAKE_API void brake_render_options_init(brake_render_options* o);

/* The prompt LLM function `function` would send for these arguments (as
** brake_call_start takes them), without calling the model: its template
** rendered for options->client, each message's role as that
** client's provider sends it (allowed_roles, default_role, remap_roles).
** On BRAKE_OK, *out (the caller's: brake_value_free) is a MAP:
**   chat      bool   the template set roles itself (else one message)
**   client    string the client it was rendered for
**   messages  array of MAP {role: string, allow_duplicate_role: bool,
**             parts: array of MAP {text: string} or {media: MAP {kind:
**             "image"|"audio"|"pdf"|"video", url?, base64?, media_type?}}}
** Fails with BRAKE_MISUSE (a NULL engine, function or out, or NULL args
** with nargs > 0); BRAKE_ENGINE_CLOSED; BRAKE_UNKNOWN_FUNCTION;
** BRAKE_TIMEOUT (options->timeout_ms passed); BRAKE_INVALID_ARGUMENT (not
** an LLM function, arguments as brake_call_start checks them, an unknown
** client, bad tags, a wrong struct_size);
** BRAKE_SCRIPT_ERROR (the template fails, or the client's options are
** wrong; an env variable it would need is read as "", since nothing is
** sent); BRAKE_NO_MEMORY. Runs on the calling thread, which may
** be any thread; nothing is sent anywhere. */
BRAKE_API int brake_engine_render_prompt(brake_engine* e, const char* function, const brake_value* const* args,
                                         size_t nargs, const brake_render_options* options, brake_value** out);

/* Options of brake_engine_parse (NULL: all defaults). */
typedef struct brake_parse_options {
  uint32_t struct_size; /* set by brake_parse_options_init */
  /* The text is a prefix of a reply still arriving (streaming): the best
  ** partial value so far (fields so far, unfinished strings as they are,
  ** missing fields null) rather than a failure. */
  int partial;
  /* As brake_render_options.timeout_ms: parsing runs on the calling
  ** thread; past this many milliseconds it stops with BRAKE_TIMEOUT.
  ** 0 = none. At most BRAKE_MAX_TIMEOUT_MS. */
  uint64_t timeout_ms;
} brake_parse_options;

BRAKE_API void brake_parse_options_init(brake_parse_options* o);

/* Parses `text` (`len` bytes) as a model's reply to function `function`
** would be parsed: into the function's return type, with the
** schema-aligned parser its LLM calls use (JSON found in prose or
** markdown fences, common mistakes repaired, values coerced to the type).
** For hosts that call models themselves. On BRAKE_OK, *out (the caller's:
** brake_value_free) is the value, as a call's result would carry it.
** Fails with BRAKE_MISUSE (a NULL engine, function or out, or NULL text
** with len > 0); BRAKE_ENGINE_CLOSED; BRAKE_UNKNOWN_FUNCTION;
** BRAKE_INVALID_ARGUMENT (a wrong struct_size or timeout_ms);
** BRAKE_TIMEOUT; BRAKE_NO_MEMORY (the engine's memory limit);
** BRAKE_SCRIPT_ERROR when the text does not fit the type:
** brake_last_error() says where and why ("$.age: expected int, got
** string"). Runs on the calling thread, which may be any thread. */
BRAKE_API int brake_engine_parse(brake_engine* e, const char* function, const char* text, size_t len,
                                 const brake_parse_options* options, brake_value** out);

/* A value written as JSON, for a host whose fastest way to build a value
** is its own JSON parser (V8's JSON.parse, in Node, is several times
** faster than building the same object node by node). */
typedef struct brake_json brake_json;

/* As brake_engine_parse, with the value written as JSON. On BRAKE_OK
** exactly one of *json and *value is set (both are the caller's:
** brake_json_free, brake_value_free): *json when a JSON parser that reads
** numbers as doubles reads the value back exactly and in order, *value (as
** brake_engine_parse gives it) when it would not: an int beyond
** +-(2^53 - 1), a float that is not finite, or a map key that is a decimal
** integer (JavaScript objects put those first). The JSON has instances as
** objects of their fields, enums as their variant's name, a string result
** as a JSON string; it is valid UTF-8 (a reply that is not has each bad
** byte written as U+FFFD, where the tree keeps the bytes). Fails as brake_engine_parse does (BRAKE_MISUSE also
** for a NULL json or value). Any thread. */
BRAKE_API int brake_engine_parse_json(brake_engine* e, const char* function, const char* text, size_t len,
                                      const brake_parse_options* options, brake_json** json, brake_value** value);
/* The JSON text (UTF-8, `*len` bytes, NUL-terminated). Valid until
** brake_json_free. NULL json -> "" */
BRAKE_API const char* brake_json_text(const brake_json* json, size_t* len);
/* The class of each object of the JSON, in pre-order (the order a
** depth-first walk meets the objects, each before its contents), one per
** line: the class name, or an empty line for a map. NULL (and *len 0) when
** no object is a class instance. Valid until brake_json_free. */
BRAKE_API const char* brake_json_classes(const brake_json* json, size_t* len);
/* Frees a brake_json; NULL is a no-op. */
BRAKE_API void brake_json_free(brake_json* json);

/* Asks the live call `id` to stop. Returns BRAKE_OK if a live call was
** found (whether or not it had already been asked, or is about to finish
** with a value: the first of cancel and completion to commit wins), and
** BRAKE_NOT_FOUND for an unknown or finished id (a no-op). Idempotent.
** With `notify` set, a sleeping call whose worker is idle is finished by the
** cancelling thread itself: its completion is already queued for
** brake_engine_drain when brake_cancel returns (likewise brake_token_cancel,
** for up to 16 of the token's calls on one worker). Completion callbacks still run only where
** brake.h says they do.
** Any thread, any moment, including from a completion callback. */
BRAKE_API int brake_cancel(brake_engine* e, brake_call_id id);

/* Number of live calls. Any thread. */
BRAKE_API size_t brake_engine_live_calls(const brake_engine* e);

/* Number of tasks that scripts spawned (`spawn`, task groups,
** baml.future.with_timeout) and that are not yet torn down: 0 once every
** call that spawned them has settled. Any thread. */
BRAKE_API size_t brake_engine_live_tasks(const brake_engine* e);

/* Bytes the engine's live calls have drawn from its memory limit (in the
** steps of call_memory_limit's note; 0 when no call holds script memory).
** Any thread. */
BRAKE_API size_t brake_engine_memory_in_use(const brake_engine* e);

/* Runs the completion callbacks of everything queued so far (only when the
** engine was created with `notify`). Returns how many ran. Call from one host
** thread at a time. */
BRAKE_API size_t brake_engine_drain(brake_engine* e);

/* Like brake_engine_drain but runs at most `max` callbacks (oldest first), so
** a host can deliver a flood of completions in slices and keep its own event
** loop responsive. *more (if non-NULL) is set to 1 when completions remain
** queued: `notify` is NOT called again for those (the queue never became
** empty), so the host must call a drain function again. max 0 means no
** limit. Same thread rule as brake_engine_drain. */
BRAKE_API size_t brake_engine_drain_max(brake_engine* e, size_t max, int* more);

/* Refuses new calls (BRAKE_ENGINE_CLOSED), cancels every live call (origin
** BRAKE_ORIGIN_CLOSE), waits for their cleanup and joins the worker threads.
** With `notify` set, their completions stay queued for brake_engine_drain
** (which still works after close); otherwise their callbacks have run when
** this returns. Idempotent. Must not be called from a completion callback or
** a worker thread (BRAKE_MISUSE). */
BRAKE_API int brake_engine_close(brake_engine* e);

/* Closes (if needed), drains any completions still queued and frees the
** engine. NULL is a no-op. Same thread rule as brake_engine_close. */
BRAKE_API void brake_engine_free(brake_engine* e);

/* ---------------------------------------------------------------- results */

BRAKE_API brake_call_id brake_result_call_id(const brake_result* r);
/* BRAKE_OK, BRAKE_CANCELLED, BRAKE_TIMEOUT, BRAKE_SCRIPT_ERROR,
** BRAKE_HTTP_ERROR (a script error caused by an HTTP exchange: see
** brake_result_http_status), ... */
BRAKE_API int brake_result_status(const brake_result* r);
/* The returned value when the status is BRAKE_OK; for a BRAKE_SCRIPT_ERROR
** of kind "unhandled_throw", the value thrown (a null value for `throw
** null`; NULL when it could not be converted within the call's memory
** limit); else NULL. Borrowed. */
BRAKE_API const brake_value* brake_result_value(const brake_result* r);
/* Error message ("" on success). Borrowed. */
BRAKE_API const char* brake_result_message(const brake_result* r);
/* Why a cancelled/timed-out call stopped; BRAKE_ORIGIN_NONE otherwise. */
BRAKE_API brake_origin brake_result_origin(const brake_result* r);
/* Kind of script error ("panic", "overflow", "division_by_zero",
** "index_out_of_range", "key_not_found", "stack_overflow", "type_error",
** "assertion", "invalid_argument", "value_too_deep" (a returned value nested
** more than 512 levels, or deep_copy beyond 10,000), "out_of_memory",
** "host_error" (a host function failed), "unhandled_throw" (a `throw` no
** catch took: brake_result_value is the value), "internal"); "" otherwise.
** Borrowed. (Hosts may add kinds of their own when a result cannot become a
** host value: the Node addon fails a call whose result holds a string
** longer than V8's limit of 2^29-24 characters with "value_too_large".) */
BRAKE_API const char* brake_result_error_kind(const brake_result* r);
/* The host's code of a "host_error" (brake_host_fail's `code`); "" otherwise.
** Borrowed. */
BRAKE_API const char* brake_result_error_code(const brake_result* r);
/* The script stack at a script error, innermost first: count, then each
** frame's function name and 1-based line. */
BRAKE_API size_t brake_result_frame_count(const brake_result* r);
BRAKE_API const char* brake_result_frame_function(const brake_result* r, size_t i);
BRAKE_API uint32_t brake_result_frame_line(const brake_result* r, size_t i);

/* Details of a BRAKE_HTTP_ERROR, from data (nothing to parse out of the
** message). Its kind (brake_result_error_kind) says what failed:
** "network_policy" (the URL is outside the engine's allowed hosts; nothing
** was sent), "http_unavailable" (no transport), "body_consumed" (text() or
** json() on a response whose body was already read), "json_parse_error"
** (json() on a body that is not JSON). A request that gets no response is
** not an error: the script sees status_code 0 and the reason in `error`.
** brake_result_http_status: the response's status code (0 when there was no
** response). brake_result_http_url: the request's URL (NULL for results
** that are not HTTP errors). brake_result_http_body: the first
** BRAKE_HTTP_BODY_EXCERPT bytes of the response body, cut at a UTF-8
** boundary ("" when the body was not at hand). Borrowed. */
#define BRAKE_HTTP_BODY_EXCERPT 1024
BRAKE_API int brake_result_http_status(const brake_result* r);
BRAKE_API const char* brake_result_http_url(const brake_result* r);
BRAKE_API const char* brake_result_http_body(const brake_result* r);

/* The attempts of a BRAKE_LLM_ERROR (an LLM function whose every attempt
** failed: README "LLM functions"), in the order they were made: count (0
** for other results), then for attempt i: the primitive client's name, its
** provider ("openai", "openai-generic", "azure-openai", "ollama",
** "anthropic"), the HTTP status (0 when there was no response), why it
** failed, how long it took (microseconds), and the first
** BRAKE_HTTP_BODY_EXCERPT bytes of the response body ("" when none). Strings
** are borrowed from the result; NULL (0) when i is out of range. The
** result's kind (brake_result_error_kind) is "llm_failed". */
BRAKE_API size_t brake_result_llm_attempt_count(const brake_result* r);
BRAKE_API const char* brake_result_llm_attempt_client(const brake_result* r, size_t i);
BRAKE_API const char* brake_result_llm_attempt_provider(const brake_result* r, size_t i);
BRAKE_API int brake_result_llm_attempt_status(const brake_result* r, size_t i);
BRAKE_API const char* brake_result_llm_attempt_error(const brake_result* r, size_t i);
BRAKE_API uint64_t brake_result_llm_attempt_duration_us(const brake_result* r, size_t i);
BRAKE_API const char* brake_result_llm_attempt_body(const brake_result* r, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* BRAKE_H */
