/*
** Native cost of typed-output parsing, without a JS host: a reply parsed
** into a function's return type through brake.h, over and over, as the
** tree (brake_engine_parse) and as JSON (brake_engine_parse_json).
**   parse_bench <program.baml> <function> <reply file> [milliseconds]
** Prints one JSON line: { treeUs, jsonUs, bytes } (microseconds per reply).
*/
#include "bench_util.h"

static double per_reply_us(brake_engine* e, const char* fn, const char* text, size_t len, int as_json,
                           unsigned ms) {
  unsigned long n = 0;
  uint64_t start = bench_now_ns(), until = start + (uint64_t)ms * 1000000ull;
  while (bench_now_ns() < until) {
    for (int i = 0; i < 64; i++) {
      brake_value* v = NULL;
      brake_json* j = NULL;
      int rc = as_json ? brake_engine_parse_json(e, fn, text, len, NULL, &j, &v)
                       : brake_engine_parse(e, fn, text, len, NULL, &v);
      if (rc != BRAKE_OK) {
        fprintf(stderr, "parse: %s\n", brake_last_error());
        exit(1);
      }
      brake_json_free(j);
      brake_value_free(v);
    }
    n += 64;
  }
  return (double)(bench_now_ns() - start) / 1000.0 / (double)n;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: parse_bench <program.baml> <function> <reply file> [milliseconds]\n");
    return 2;
  }
  unsigned ms = argc > 4 ? (unsigned)atoi(argv[4]) : 2000;
  brake_engine* e = bench_engine(argv[1], 1, NULL, NULL);
  size_t len = 0;
  char* reply = bench_read_file(argv[3], &len);
  if (!reply) {
    fprintf(stderr, "cannot read %s\n", argv[3]);
    return 2;
  }
  per_reply_us(e, argv[2], reply, len, 1, ms / 4); /* warm-up */
  double tree = per_reply_us(e, argv[2], reply, len, 0, ms);
  double json = per_reply_us(e, argv[2], reply, len, 1, ms);
  printf("{\"treeUs\": %.3f, \"jsonUs\": %.3f, \"bytes\": %zu}\n", tree, json, len);
  free(reply);
  brake_engine_close(e);
  brake_engine_free(e);
  return 0;
}
