/*
** brake-run: run one function of a BAML file through brake.h.
**
**   brake-run [--disassemble] [--timeout MS] file.baml [function] [args...]
**
** Prints the returned value in brake's display format, or the typed error
** (status name, message, script stack) on stderr. Arguments: integers,
** floats (with '.' or 'e'), true, false, null, otherwise strings.
** Ctrl-C cancels the running call through brake_cancel and exits with 130.
**
** Exit codes: 0 value, 1 script error or timeout, 2 usage/compile/start
** error, 130 cancelled by Ctrl-C.
**
** This file is also a small example of the C ABI: compile, create an
** engine, start a call, wait for the completion callback, cancel.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brake.h"

static volatile sig_atomic_t g_interrupted = 0;
static void on_sigint(int sig) {
  (void)sig;
  g_interrupted = 1;
}

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int status;
  int exit_code;
} Waiter;

static void on_done(void* user_data, const brake_result* r) {
  Waiter* w = (Waiter*)user_data;
  int status = brake_result_status(r);
  if (status == BRAKE_OK) {
    char* text = NULL;
    if (brake_value_format(brake_result_value(r), &text) == BRAKE_OK) {
      printf("%s\n", text);
      brake_string_free(text);
    }
    w->exit_code = 0;
  } else {
    fprintf(stderr, "%s: %s\n", brake_status_name(status), brake_result_message(r));
    const char* kind = brake_result_error_kind(r);
    if (kind[0]) fprintf(stderr, "  kind: %s\n", kind);
    for (size_t i = 0; i < brake_result_frame_count(r); i++)
      fprintf(stderr, "  at %s (line %u)\n", brake_result_frame_function(r, i), brake_result_frame_line(r, i));
    w->exit_code = status == BRAKE_CANCELLED ? 130 : 1;
  }
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->status = status;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static char* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char* buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char* bigger = realloc(buf, cap *= 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
      }
      buf = bigger;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static brake_value* parse_arg(const char* s) {
  char* end;
  if (!strcmp(s, "true")) return brake_value_bool(1);
  if (!strcmp(s, "false")) return brake_value_bool(0);
  if (!strcmp(s, "null")) return brake_value_null();
  errno = 0;
  long long i = strtoll(s, &end, 10);
  if (*s && !*end && errno == 0) return brake_value_int(i);
  double d = strtod(s, &end);
  if (*s && !*end && strpbrk(s, ".eE")) return brake_value_float(d);
  size_t len = strlen(s);
  if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
    s++;
    len -= 2;
  }
  brake_value* v = NULL;
  if (brake_value_string(s, len, &v) != BRAKE_OK) return NULL;
  return v;
}

static int usage(void) {
  fprintf(stderr, "usage: brake-run [--disassemble] [--timeout MS] file.baml [function] [args...]\n");
  return 2;
}

int main(int argc, char** argv) {
  int disassemble = 0;
  unsigned long long timeout_ms = 0;
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    if (!strcmp(argv[i], "--disassemble")) disassemble = 1;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_ms = strtoull(argv[++i], NULL, 10);
    else return usage();
  }
  if (i >= argc) return usage();
  const char* path = argv[i++];
  const char* function = i < argc ? argv[i++] : "main";

  size_t len = 0;
  char* source = read_file(path, &len);
  if (!source) {
    fprintf(stderr, "cannot read %s\n", path);
    return 2;
  }
  brake_program* program = NULL;
  int rc = brake_program_compile(source, len, path, &program);
  free(source);
  if (rc != BRAKE_OK) {
    for (size_t d = 0; d < brake_program_diagnostic_count(program); d++) {
      const char *file, *message;
      uint32_t line, column;
      brake_program_diagnostic(program, d, &file, &line, &column, &message);
      fprintf(stderr, "%s:%u:%u: error: %s\n", file, line, column, message);
    }
    if (!program) fprintf(stderr, "%s\n", brake_last_error());
    brake_program_free(program);
    return 2;
  }
  if (disassemble) {
    char* listing = NULL;
    if (brake_program_disassemble(program, &listing) == BRAKE_OK) {
      fputs(listing, stdout);
      brake_string_free(listing);
    }
  }

  brake_engine_options options;
  brake_engine_options_init(&options);
  options.worker_threads = 1;
  brake_engine* engine = NULL;
  if (brake_engine_create(program, &options, &engine) != BRAKE_OK) {
    fprintf(stderr, "%s\n", brake_last_error());
    brake_program_free(program);
    return 2;
  }
  brake_program_free(program);

  int nargs = argc - i;
  brake_value** args = calloc((size_t)(nargs > 0 ? nargs : 1), sizeof *args);
  for (int a = 0; a < nargs; a++) {
    args[a] = parse_arg(argv[i + a]);
    if (!args[a]) {
      fprintf(stderr, "argument %d is not valid UTF-8\n", a + 1);
      return 2;
    }
  }

  Waiter w;
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  w.done = 0;
  w.exit_code = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);

  brake_call_options call_options;
  brake_call_options_init(&call_options);
  call_options.timeout_ms = timeout_ms;
  const brake_call_id id = 1;
  rc = brake_call_start(engine, id, function, (const brake_value* const*)args, (size_t)nargs, &call_options, on_done, &w);
  for (int a = 0; a < nargs; a++) brake_value_free(args[a]);
  free(args);
  if (rc != BRAKE_OK) {
    fprintf(stderr, "%s: %s\n", brake_status_name(rc), brake_last_error());
    brake_engine_free(engine);
    return 2;
  }

  /* Wait for the callback, turning Ctrl-C into brake_cancel (a signal
  ** handler may not call into the engine, so poll the flag). */
  int cancel_sent = 0;
  pthread_mutex_lock(&w.mu);
  while (!w.done) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 10 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w.cv, &w.mu, &deadline);
    if (g_interrupted && !cancel_sent) {
      cancel_sent = 1;
      pthread_mutex_unlock(&w.mu);
      brake_cancel(engine, id);
      pthread_mutex_lock(&w.mu);
    }
  }
  pthread_mutex_unlock(&w.mu);
  brake_engine_free(engine);
  return w.exit_code;
}
