/*
** bad_input_test.c: every bad input gets a status and a message, never a
** crash, and the engine keeps working for everyone else.
*/
#include <math.h>
#include <sys/resource.h>

#include "test_util.h"

static const char* kSource =
    "function add(a: int, b: int) -> int { a + b }\n"
    "function greet(name: string) -> string { \"hi \" + name }\n"
    "function total(xs: int[]) -> int { let t = 0; for (let x in xs) { t += x; } t }\n"
    "function half(x: float) -> float { x / 2.0 }\n"
    "function maybe(x: int?) -> bool { x == null }\n";

static int compile_status(const char* src, size_t len, size_t* ndiags) {
  brake_program* p = NULL;
  int rc = brake_program_compile(src, len, "bad.baml", &p);
  *ndiags = brake_program_diagnostic_count(p);
  brake_program_free(p);
  return rc;
}

BRAKE_TEST(null_handles_are_misuse) {
  Waiter w;
  waiter_init(&w);
  CHECK_EQ_INT(brake_program_compile("x", 1, NULL, NULL), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_create(NULL, NULL, NULL), BRAKE_MISUSE);
  brake_engine* e = NULL;
  CHECK_EQ_INT(brake_engine_create(NULL, NULL, &e), BRAKE_MISUSE);
  CHECK(e == NULL);
  CHECK(strlen(brake_last_error()) > 0);
  CHECK_EQ_INT(brake_call_start(NULL, 1, "add", NULL, 0, NULL, waiter_done, &w), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_cancel(NULL, 1), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_close(NULL), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_live_calls(NULL), 0);
  brake_engine_free(NULL);
  brake_program_free(NULL);
  brake_value_free(NULL);
  brake_token_free(NULL);
  CHECK_EQ_INT(brake_value_string(NULL, 3, &(brake_value*){NULL}), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_value_array_push(NULL, brake_value_int(1)), BRAKE_MISUSE); /* item freed, no leak */
  CHECK(brake_result_value(NULL) == NULL);
  CHECK(strcmp(brake_status_name(BRAKE_MISUSE), "MISUSE") == 0);
  CHECK(strcmp(brake_status_name(999), "UNKNOWN") == 0);
  CHECK_EQ_INT(w.calls, 0);
}

BRAKE_TEST(bad_sources_are_compile_errors) {
  size_t n;
  CHECK_EQ_INT(compile_status("", 0, &n), BRAKE_COMPILE_ERROR);
  CHECK(n >= 1);
  CHECK_EQ_INT(compile_status("   \n// nothing\n", 14, &n), BRAKE_COMPILE_ERROR);
  const char* syntax = "function f( -> int { 1 }\nfunction g() -> int { let = 2; }\nfunction h() -> int { 1 +; }\n";
  CHECK_EQ_INT(compile_status(syntax, strlen(syntax), &n), BRAKE_COMPILE_ERROR);
  CHECK(n >= 3); /* every error, not just the first */
  const char* types = "function f() -> int { \"s\" }\nfunction g() -> string { 1 + 1.5 }\n";
  CHECK_EQ_INT(compile_status(types, strlen(types), &n), BRAKE_COMPILE_ERROR);
  CHECK_EQ_INT(n, 2);
  const char bad_utf8[] = "function f() -> string { \"\xff\xfe\" }";
  CHECK_EQ_INT(compile_status(bad_utf8, sizeof bad_utf8 - 1, &n), BRAKE_COMPILE_ERROR);
  /* Diagnostics carry file, line and column. */
  brake_program* p = NULL;
  CHECK_EQ_INT(brake_program_compile(types, strlen(types), "types.baml", &p), BRAKE_COMPILE_ERROR);
  const char *file, *message;
  uint32_t line, column;
  CHECK_EQ_INT(brake_program_diagnostic(p, 1, &file, &line, &column, &message), BRAKE_OK);
  CHECK(strcmp(file, "types.baml") == 0);
  CHECK_EQ_INT(line, 2);
  CHECK(column > 1);
  CHECK_EQ_INT(brake_program_diagnostic(p, 5, &file, &line, &column, &message), BRAKE_MISUSE);
  /* A program with errors cannot back an engine. */
  brake_engine* e = NULL;
  CHECK_EQ_INT(brake_engine_create(p, NULL, &e), BRAKE_MISUSE);
  brake_program_free(p);
}

BRAKE_TEST(bad_calls_fail_at_start_and_engine_keeps_working) {
  brake_engine* e = engine_from(kSource, 2);
  Waiter w;
  waiter_init(&w);
  brake_value* one = brake_value_int(1);
  brake_value* str = NULL;
  CHECK_EQ_INT(brake_value_string("x", 1, &str), BRAKE_OK);
  brake_value* fl = brake_value_float(1.5);
  const brake_value* two_ints[] = {one, one};
  const brake_value* int_str[] = {one, str};
  const brake_value* one_float[] = {fl};
  const brake_value* null_arg[] = {NULL, one};

  CHECK_EQ_INT(brake_call_start(e, 1, "nope", NULL, 0, NULL, waiter_done, &w), BRAKE_UNKNOWN_FUNCTION);
  CHECK(strstr(brake_last_error(), "nope") != NULL);
  CHECK_EQ_INT(brake_call_start(e, 1, "add", two_ints, 1, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "2 arguments") != NULL);
  CHECK_EQ_INT(brake_call_start(e, 1, "add", int_str, 2, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "expected int") != NULL);
  CHECK_EQ_INT(brake_call_start(e, 1, "add", null_arg, 2, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK_EQ_INT(brake_call_start(e, 1, "greet", one_float, 1, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK_EQ_INT(brake_call_start(e, 0, "add", two_ints, 2, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK_EQ_INT(brake_call_start(e, 1, "add", NULL, 2, NULL, waiter_done, &w), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_call_start(e, 1, "add", two_ints, 2, NULL, NULL, &w), BRAKE_MISUSE);
  brake_call_options bad_opts;
  memset(&bad_opts, 0, sizeof bad_opts); /* struct_size not set */
  CHECK_EQ_INT(brake_call_start(e, 1, "add", two_ints, 2, &bad_opts, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  /* an array with a wrongly-typed element */
  brake_value* arr = brake_value_array();
  brake_value_array_push(arr, brake_value_int(1));
  brake_value_array_push(arr, brake_value_bool(1));
  const brake_value* arr_arg[] = {arr};
  CHECK_EQ_INT(brake_call_start(e, 1, "total", arr_arg, 1, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "element 1") != NULL);
  sleep_ms(20);
  CHECK_EQ_INT(w.calls, 0);
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);

  /* Still works; an int is accepted for a float parameter. */
  const brake_value* int_for_float[] = {one};
  CHECK_EQ_INT(brake_call_start(e, 2, "half", int_for_float, 1, NULL, waiter_done, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  CHECK_EQ_INT(w.status, BRAKE_OK);
  Waiter w2;
  waiter_init(&w2);
  CHECK_EQ_INT(brake_call_start(e, 3, "add", two_ints, 2, NULL, waiter_done, &w2), BRAKE_OK);
  CHECK(waiter_wait(&w2, 2000));
  CHECK_EQ_INT(w2.int_value, 2);

  brake_value_free(one);
  brake_value_free(str);
  brake_value_free(fl);
  brake_value_free(arr);
  brake_engine_close(e);
  Waiter w3;
  waiter_init(&w3);
  CHECK_EQ_INT(brake_call_start(e, 4, "add", two_ints, 0, NULL, waiter_done, &w3), BRAKE_ENGINE_CLOSED);
  brake_engine_free(e);
}

BRAKE_TEST(invalid_utf8_values_are_refused) {
  brake_value* v = (brake_value*)1;
  CHECK_EQ_INT(brake_value_string("\xc3\x28", 2, &v), BRAKE_INVALID_ARGUMENT);
  CHECK(v == NULL);
  CHECK_EQ_INT(brake_value_string("\xed\xa0\x80", 3, &v), BRAKE_INVALID_ARGUMENT); /* surrogate */
  CHECK_EQ_INT(brake_value_string("\xe2\x82\xac", 3, &v), BRAKE_OK);             /* euro sign */
  brake_value_free(v);
  brake_value* m = brake_value_map();
  CHECK_EQ_INT(brake_value_map_set(m, "\xff", 1, brake_value_null()), BRAKE_INVALID_ARGUMENT);
  CHECK_EQ_INT(brake_value_length(m), 0);
  brake_value_free(m);
}

BRAKE_TEST(bad_engine_options) {
  brake_program* p = NULL;
  CHECK_EQ_INT(brake_program_compile(kSource, strlen(kSource), NULL, &p), BRAKE_OK);
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = 100000;
  brake_engine* e = NULL;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(e == NULL);
  o.worker_threads = 1;
  o.struct_size = 3;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  brake_program_free(p);
}

/* The maxima of brake.h are accepted, one more is refused (the Node API
** refuses the same values: test/js/11-boundary.test.ts). */
BRAKE_TEST(limits_are_the_headers) {
  brake_program* p = NULL;
  CHECK_EQ_INT(brake_program_compile(kSource, strlen(kSource), NULL, &p), BRAKE_OK);
  brake_engine_options o;
  brake_engine_options_init(&o);
  brake_engine* e = NULL;
  o.worker_threads = BRAKE_MAX_WORKER_THREADS + 1;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(strcmp(brake_last_error(), "worker_threads must be an integer from 0 (one per core) to 256") == 0);
  o.worker_threads = BRAKE_MAX_WORKER_THREADS;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_engine_free(e);
  o.worker_threads = 1;
  o.max_call_depth = BRAKE_MAX_CALL_DEPTH + 1;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_INVALID_ARGUMENT);
  CHECK(strcmp(brake_last_error(), "max_call_depth must be an integer from 0 (default 1000) to 100000") == 0);
  o.max_call_depth = BRAKE_MAX_CALL_DEPTH;
  CHECK_EQ_INT(brake_engine_create(p, &o, &e), BRAKE_OK);
  brake_program_free(p);

  brake_value* one = brake_value_int(1);
  const brake_value* two_ints[] = {one, one};
  brake_call_options co;
  brake_call_options_init(&co);
  Waiter w;
  waiter_init(&w);
  const uint64_t too_long[] = {BRAKE_MAX_TIMEOUT_MS + 1, UINT64_MAX};
  for (size_t i = 0; i < 2; i++) {
    co.timeout_ms = too_long[i];
    CHECK_EQ_INT(brake_call_start(e, 1, "add", two_ints, 2, &co, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
    CHECK(strcmp(brake_last_error(), "timeout_ms must be from 0 (no deadline) to 31536000000 (365 days)") == 0);
  }
  CHECK_EQ_INT(brake_engine_live_calls(e), 0);
  co.timeout_ms = BRAKE_MAX_TIMEOUT_MS;
  CHECK_EQ_INT(brake_call_start(e, 1, "add", two_ints, 2, &co, waiter_done, &w), BRAKE_OK);
  CHECK(waiter_wait(&w, 2000));
  CHECK_EQ_INT(w.calls, 1);
  CHECK_EQ_INT(w.status, BRAKE_OK);
  CHECK_EQ_INT(w.int_value, 2);
  CHECK_EQ_INT(live_after(e, 2000), 0);
  brake_value_free(one);
  brake_engine_free(e);
}

BRAKE_TEST(version_matches_header) {
  CHECK_EQ_INT(brake_version_number(), BRAKE_VERSION_NUMBER);
  CHECK(strcmp(brake_version(), BRAKE_VERSION_STRING) == 0);
}

BRAKE_TEST(values_round_trip_and_format) {
  brake_value* m = brake_value_map();
  brake_value* s = NULL;
  brake_value_string("a\"b\n", 4, &s);
  brake_value_map_set(m, "k", 1, s);
  brake_value* arr = brake_value_array();
  brake_value_array_push(arr, brake_value_float(2.0));
  brake_value_array_push(arr, brake_value_int(-7));
  brake_value_array_push(arr, brake_value_null());
  brake_value_map_set(m, "j", 1, arr);
  brake_value* c = brake_value_clone(m);
  brake_value_free(m);
  char* text = NULL;
  CHECK_EQ_INT(brake_value_format(c, &text), BRAKE_OK);
  CHECK(strcmp(text, "{\"k\": \"a\\\"b\\n\", \"j\": [2.0, -7, null]}") == 0);
  brake_string_free(text);
  CHECK(brake_value_map_find(c, "j", 1) != NULL);
  CHECK_EQ_INT(brake_value_get_int(brake_value_array_get(brake_value_map_find(c, "j", 1), 1)), -7);
  brake_value_free(c);
}

static char* format_float_value(double f) {
  brake_value* v = brake_value_float(f);
  char* text = NULL;
  CHECK_EQ_INT(brake_value_format(v, &text), BRAKE_OK);
  brake_value_free(v);
  return text;
}

typedef struct {
  Waiter w;
  brake_kind kind;
  double f;
} FloatWaiter;

static void float_done(void* user_data, const brake_result* r) {
  FloatWaiter* fw = (FloatWaiter*)user_data;
  fw->kind = brake_value_kind(brake_result_value(r));
  fw->f = brake_value_get_float(brake_result_value(r));
  waiter_done(&fw->w, r);
}

/* Calls fn(arg) and returns the result's kind and float value. */
static brake_kind call_with_float(brake_engine* e, brake_call_id id, const char* fn, double arg, double* out) {
  FloatWaiter fw;
  waiter_init(&fw.w);
  fw.kind = BRAKE_KIND_NULL;
  fw.f = 0;
  brake_value* v = brake_value_float(arg);
  const brake_value* args[] = {v};
  CHECK_EQ_INT(brake_call_start(e, id, fn, args, 1, NULL, float_done, &fw), BRAKE_OK);
  brake_value_free(v);
  CHECK(waiter_wait(&fw.w, 2000));
  CHECK_EQ_INT(fw.w.status, BRAKE_OK);
  *out = fw.f;
  if (fw.kind == BRAKE_KIND_INT) *out = (double)fw.w.int_value;
  return fw.kind;
}

/* inf, -inf, nan and -0.0 cross unchanged and have a display form; a -0.0
** (how a JS host sends -0) is the int 0 where an int is declared. */
BRAKE_TEST(special_floats_cross_and_format) {
  const double inf = 1.0 / 0.0;
  char* text = format_float_value(inf);
  CHECK(strcmp(text, "inf") == 0);
  brake_string_free(text);
  text = format_float_value(-inf);
  CHECK(strcmp(text, "-inf") == 0);
  brake_string_free(text);
  text = format_float_value(0.0 / 0.0);
  CHECK(strcmp(text, "nan") == 0);
  brake_string_free(text);
  text = format_float_value(-0.0);
  CHECK(strcmp(text, "-0.0") == 0);
  brake_string_free(text);

  brake_engine* e = engine_from(
      "function idf(x: float) -> float { x }\n"
      "function idi(n: int) -> int { n }\n"
      "function either(x: int | float) -> int | float { x }\n",
      1);
  double f = 1;
  CHECK_EQ_INT(call_with_float(e, 1, "idf", -0.0, &f), BRAKE_KIND_FLOAT);
  CHECK(f == 0 && signbit(f));
  CHECK_EQ_INT(call_with_float(e, 2, "idf", inf, &f), BRAKE_KIND_FLOAT);
  CHECK(f == inf);
  CHECK_EQ_INT(call_with_float(e, 3, "idf", -inf, &f), BRAKE_KIND_FLOAT);
  CHECK(f == -inf);
  CHECK_EQ_INT(call_with_float(e, 4, "idf", 0.0 / 0.0, &f), BRAKE_KIND_FLOAT);
  CHECK(isnan(f));
  CHECK_EQ_INT(call_with_float(e, 5, "idi", -0.0, &f), BRAKE_KIND_INT);
  CHECK(f == 0);
  CHECK_EQ_INT(call_with_float(e, 6, "either", -0.0, &f), BRAKE_KIND_FLOAT);
  CHECK(f == 0 && signbit(f));
  /* Only -0.0 stands for an int: 0.0 and 1.5 are still refused. */
  Waiter w;
  waiter_init(&w);
  brake_value* zero = brake_value_float(0.0);
  const brake_value* args[] = {zero};
  CHECK_EQ_INT(brake_call_start(e, 7, "idi", args, 1, NULL, waiter_done, &w), BRAKE_INVALID_ARGUMENT);
  CHECK(strstr(brake_last_error(), "expected int, got float") != NULL);
  brake_value_free(zero);
  brake_engine_free(e);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BRAKE_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BRAKE_UNDER_SANITIZER 1
#endif
#endif

/* A script that exhausts memory fails with a script error; the worker and
** the engine keep serving other calls. (Address-space limits cannot be used
** under ASan/TSan, which reserve terabytes of shadow memory: there this case
** says so and checks nothing.) */
BRAKE_TEST(out_of_memory_fails_only_that_call) {
#ifdef BRAKE_UNDER_SANITIZER
  printf("  (address-space limit not applicable under sanitizers)\n");
#else
  struct rlimit limit = {(rlim_t)3 << 30, (rlim_t)3 << 30};
  CHECK(setrlimit(RLIMIT_AS, &limit) == 0);
  brake_engine* e = engine_from(
      "function grow() -> int { let s = \"0123456789abcdef0123456789abcdef\"; for (let i = 0; i < 40; i += 1) { s = s + s; } s.length() }\n"
      "function ok() -> int { 7 }\n",
      1);
  Waiter w1, w2;
  waiter_init(&w1);
  waiter_init(&w2);
  CHECK_EQ_INT(start0(e, 1, "grow", &w1), BRAKE_OK);
  CHECK(waiter_wait(&w1, 20000));
  CHECK_EQ_INT(w1.status, BRAKE_SCRIPT_ERROR);
  CHECK(strcmp(w1.kind, "out_of_memory") == 0);
  CHECK_EQ_INT(start0(e, 2, "ok", &w2), BRAKE_OK);
  CHECK(waiter_wait(&w2, 2000));
  CHECK_EQ_INT(w2.int_value, 7);
  brake_engine_free(e);
#endif
}

/* A program's functions as a host lists them: names, parameters, signature
** text, which are LLM functions; out-of-range indexes and a program that did
** not compile give NULL / 0. */
BRAKE_TEST(program_function_signatures) {
  const char* src =
      "class P { name string }\n"
      "enum E { A B }\n"
      "function add(a: int, b: float?) -> float { 1.0 }\n"
      "function none() -> map<string, P[]> { let m: map<string, P[]> = {}; m }\n"
      "function Pick(e: E, xs: (int | string)[]) -> \"a\" | 1 { client \"openai/gpt-4o\" prompt #\"{{ e }}\"# }\n";
  brake_program* p = NULL;
  CHECK_EQ_INT(brake_program_compile(src, strlen(src), "sig.baml", &p), BRAKE_OK);
  CHECK(brake_program_function_count(p) == 3);
  CHECK(strcmp(brake_program_function_name(p, 0), "add") == 0);
  CHECK(strcmp(brake_program_function_signature(p, 0), "(a: int, b: float?) -> float") == 0);
  CHECK(strcmp(brake_program_function_signature(p, 1), "() -> map<string, P[]>") == 0);
  CHECK(strcmp(brake_program_function_signature(p, 2), "(e: E, xs: (int | string)[]) -> \"a\" | 1") == 0);
  CHECK(brake_program_function_is_llm(p, 2) == 1 && brake_program_function_is_llm(p, 0) == 0);
  CHECK(brake_program_function_signature(p, 3) == NULL && brake_program_function_is_llm(p, 3) == 0);
  CHECK(brake_program_function_signature(NULL, 0) == NULL);
  /* The declarations as JSON, for code generators (built-in classes left out). */
  char* json = NULL;
  CHECK_EQ_INT(brake_program_describe(p, &json), BRAKE_OK);
  CHECK(json && strstr(json, "{\"name\":\"add\",\"params\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"float?\"}],\"returns\":\"float\",\"llm\":false}"));
  CHECK(json && strstr(json, "\"classes\":[{\"name\":\"P\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}]}]"));
  CHECK(json && strstr(json, "\"enums\":[{\"name\":\"E\",\"variants\":[{\"name\":\"A\"},{\"name\":\"B\"}]}]"));
  CHECK(json && strstr(json, "\"aliases\":[]}") && !strstr(json, "image") && !strstr(json, "Response"));
  brake_string_free(json);
  CHECK_EQ_INT(brake_program_describe(p, NULL), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_program_describe(NULL, &json), BRAKE_MISUSE);
  brake_program_free(p);
  p = NULL;
  CHECK_EQ_INT(brake_program_compile("function f( -> int { 1 }", 24, "bad.baml", &p), BRAKE_COMPILE_ERROR);
  CHECK(brake_program_function_signature(p, 0) == NULL);
  brake_program_free(p);
}

/* brake_engine_parse: a reply parsed into a function's return type on the
** calling thread; a text that does not fit is BRAKE_SCRIPT_ERROR saying
** where; bad input is refused with a status. */
BRAKE_TEST(parse_entry_point) {
  brake_engine* e = engine_from(
      "class P { name string age int }\n"
      "function Extract(t: string) -> P { client \"openai/gpt-4o\" prompt #\"{{ t }}\"# }\n",
      1);
  if (!e) return;
  const char* good = "Here it is:\n```json\n{\"name\": \"Ada\", \"age\": 36}\n```";
  brake_value* out = NULL;
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, strlen(good), NULL, &out), BRAKE_OK);
  char* shown = NULL;
  CHECK_EQ_INT(brake_value_format(out, &shown), BRAKE_OK);
  CHECK(shown && strstr(shown, "Ada") && strstr(shown, "36"));
  brake_string_free(shown);
  brake_value_free(out);
  out = NULL;
  const char* bad = "{\"name\": \"Ada\", \"age\": \"old\"}";
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", bad, strlen(bad), NULL, &out), BRAKE_SCRIPT_ERROR);
  CHECK(out == NULL && strstr(brake_last_error(), "$.age"));
  brake_parse_options o;
  brake_parse_options_init(&o);
  o.partial = 1;
  o.timeout_ms = 1000;
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, strlen(good), &o, &out), BRAKE_OK);
  brake_value_free(out);
  out = NULL;
  o.struct_size = 3;
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, strlen(good), &o, &out), BRAKE_INVALID_ARGUMENT);
  brake_parse_options_init(&o);
  o.timeout_ms = BRAKE_MAX_TIMEOUT_MS + 1;
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, strlen(good), &o, &out), BRAKE_INVALID_ARGUMENT);
  CHECK_EQ_INT(brake_engine_parse(e, "Nope", good, strlen(good), NULL, &out), BRAKE_UNKNOWN_FUNCTION);
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", NULL, 3, NULL, &out), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_parse(NULL, "Extract", good, 1, NULL, &out), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, 1, NULL, NULL), BRAKE_MISUSE);
  brake_engine_close(e);
  CHECK_EQ_INT(brake_engine_parse(e, "Extract", good, strlen(good), NULL, &out), BRAKE_ENGINE_CLOSED);
  brake_engine_free(e);
}

/* brake_engine_parse_json: the value as JSON with its objects' classes, or
** the tree when JSON cannot carry it exactly; bad input refused as
** brake_engine_parse refuses it. */
BRAKE_TEST(parse_json_entry_point) {
  brake_engine* e = engine_from(
      "class P { name string age int tags map<string, int> }\n"
      "function Extract(t: string) -> P { client \"openai/gpt-4o\" prompt #\"{{ t }}\"# }\n"
      "function Words(t: string) -> string { client \"openai/gpt-4o\" prompt #\"{{ t }}\"# }\n",
      1);
  if (!e) return;
  const char* good = "Here:\n```json\n{\"name\": \"A\\\"da\", \"age\": 36, \"tags\": {\"x\": 1}}\n```";
  brake_json* json = NULL;
  brake_value* tree = NULL;
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", good, strlen(good), NULL, &json, &tree), BRAKE_OK);
  CHECK(json != NULL && tree == NULL);
  size_t len = 0, classes_len = 0;
  const char* text = brake_json_text(json, &len);
  CHECK(strcmp(text, "{\"name\":\"A\\\"da\",\"age\":36,\"tags\":{\"x\":1}}") == 0 && len == strlen(text));
  const char* classes = brake_json_classes(json, &classes_len);
  CHECK(classes && strcmp(classes, "P\n\n") == 0 && classes_len == 3);
  brake_json_free(json);
  json = NULL;
  /* An int JSON readers would round: the tree. */
  const char* big = "{\"name\": \"Ada\", \"age\": 9007199254740993, \"tags\": {}}";
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", big, strlen(big), NULL, &json, &tree), BRAKE_OK);
  CHECK(json == NULL && tree != NULL);
  CHECK(brake_value_get_int(brake_value_map_find(tree, "age", 3)) == 9007199254740993LL);
  brake_value_free(tree);
  tree = NULL;
  /* A string result is a JSON string; no object, no classes. */
  CHECK_EQ_INT(brake_engine_parse_json(e, "Words", "say \"hi\"", 8, NULL, &json, &tree), BRAKE_OK);
  CHECK(json && strcmp(brake_json_text(json, NULL), "\"say \\\"hi\\\"\"") == 0);
  CHECK(brake_json_classes(json, &classes_len) == NULL && classes_len == 0);
  brake_json_free(json);
  json = NULL;
  const char* bad = "{\"name\": \"Ada\", \"age\": \"old\"}";
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", bad, strlen(bad), NULL, &json, &tree), BRAKE_SCRIPT_ERROR);
  CHECK(json == NULL && tree == NULL && strstr(brake_last_error(), "$.age"));
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", good, 1, NULL, NULL, &tree), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", good, 1, NULL, &json, NULL), BRAKE_MISUSE);
  CHECK_EQ_INT(brake_engine_parse_json(e, "Nope", good, 1, NULL, &json, &tree), BRAKE_UNKNOWN_FUNCTION);
  CHECK(strcmp(brake_json_text(NULL, &len), "") == 0 && len == 0);
  brake_json_free(NULL);
  brake_engine_close(e);
  CHECK_EQ_INT(brake_engine_parse_json(e, "Extract", good, strlen(good), NULL, &json, &tree), BRAKE_ENGINE_CLOSED);
  brake_engine_free(e);
}

/* Parse deadlines from several threads at once share the engine's one
** watchdog: each parse finishes or stops at its own deadline. */
typedef struct {
  brake_engine* e;
  int failures;
} ParseThread;

static void* parse_many(void* arg) {
  ParseThread* t = (ParseThread*)arg;
  const char* text = "{\"name\": \"Ada\", \"age\": 36}";
  brake_parse_options o;
  brake_parse_options_init(&o);
  o.timeout_ms = 1000;
  for (int i = 0; i < 300; i++) {
    brake_value* out = NULL;
    if (brake_engine_parse(t->e, "Extract", text, strlen(text), &o, &out) != BRAKE_OK) t->failures++;
    brake_value_free(out);
  }
  return NULL;
}

BRAKE_TEST(parse_deadlines_from_threads) {
  brake_engine* e = engine_from(
      "class P { name string age int }\n"
      "function Extract(t: string) -> P { client \"openai/gpt-4o\" prompt #\"{{ t }}\"# }\n"
      "function Many(t: string) -> P[] { client \"openai/gpt-4o\" prompt #\"{{ t }}\"# }\n",
      1);
  if (!e) return;
  ParseThread threads[4];
  pthread_t ids[4];
  for (int i = 0; i < 4; i++) {
    threads[i].e = e;
    threads[i].failures = 0;
    pthread_create(&ids[i], NULL, parse_many, &threads[i]);
  }
  /* Meanwhile a reply far too big for 1 ms stops at its deadline. */
  size_t n = 300000, len = 0;
  char* huge = (char*)malloc(n * 32 + 3);
  huge[len++] = '[';
  for (size_t i = 0; i < n; i++) len += (size_t)sprintf(huge + len, "%s{\"name\": \"n\", \"age\": 1}", i ? "," : "");
  huge[len++] = ']';
  brake_parse_options o;
  brake_parse_options_init(&o);
  o.timeout_ms = 1;
  brake_value* out = NULL;
  CHECK_EQ_INT(brake_engine_parse(e, "Many", huge, len, &o, &out), BRAKE_TIMEOUT);
  CHECK(out == NULL);
  free(huge);
  for (int i = 0; i < 4; i++) {
    pthread_join(ids[i], NULL);
    CHECK_EQ_INT(threads[i].failures, 0);
  }
  brake_engine_close(e);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(null_handles_are_misuse),
      TEST_ENTRY(bad_sources_are_compile_errors),
      TEST_ENTRY(bad_calls_fail_at_start_and_engine_keeps_working),
      TEST_ENTRY(invalid_utf8_values_are_refused),
      TEST_ENTRY(bad_engine_options),
      TEST_ENTRY(limits_are_the_headers),
      TEST_ENTRY(version_matches_header),
      TEST_ENTRY(values_round_trip_and_format),
      TEST_ENTRY(special_floats_cross_and_format),
      TEST_ENTRY(out_of_memory_fails_only_that_call),
      TEST_ENTRY(program_function_signatures),
      TEST_ENTRY(parse_entry_point),
      TEST_ENTRY(parse_json_entry_point),
      TEST_ENTRY(parse_deadlines_from_threads),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
