/*
** A C host of brake's C ABI (libbrake.so): compiles a program, calls a
** function with a call id it chooses, cancels a second call by its id from
** another thread, and prints what came back. One command, after
** `npm install` (which builds build/Release/libbrake.so and brake.pc):
**
**   cc examples/c-host/host.c $(PKG_CONFIG_PATH=build/Release pkg-config --cflags --libs brake) -lpthread -o host && ./host
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "brake.h"

typedef struct {
  pthread_mutex_t m;
  pthread_cond_t cv;
  int done;
  int status;
  long long value;
} Outcome;

/* Runs once per admitted call, on an engine thread. */
static void on_done(void* user_data, const brake_result* r) {
  Outcome* o = user_data;
  pthread_mutex_lock(&o->m);
  o->status = brake_result_status(r);
  if (o->status == BRAKE_OK) o->value = brake_value_get_int(brake_result_value(r));
  o->done = 1;
  pthread_cond_signal(&o->cv);
  pthread_mutex_unlock(&o->m);
}

static void wait_for(Outcome* o) {
  pthread_mutex_lock(&o->m);
  while (!o->done) pthread_cond_wait(&o->cv, &o->m);
  pthread_mutex_unlock(&o->m);
}

typedef struct {
  brake_engine* engine;
  brake_call_id id;
} CancelJob;

static void* cancel_later(void* arg) {
  CancelJob* job = arg;
  brake_cancel(job->engine, job->id); /* any thread may cancel any call by id */
  return NULL;
}

int main(void) {
  const char* src =
      "function add(a: int, b: int) -> int { a + b }\n"
      "function nap(ms: int) -> int { baml.sys.sleep(ms); ms }\n";
  brake_program* program = NULL;
  if (brake_program_compile(src, strlen(src), "host.baml", &program) != BRAKE_OK) {
    fprintf(stderr, "compile: %s\n", brake_last_error());
    return 1;
  }
  brake_engine* engine = NULL;
  int created = brake_engine_create(program, NULL, &engine);
  brake_program_free(program); /* the engine keeps its own reference */
  if (created != BRAKE_OK) {
    fprintf(stderr, "engine: %s\n", brake_last_error());
    return 1;
  }
  printf("brake %s\n", brake_version());

  Outcome sum = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
  brake_value* args[2] = {brake_value_int(2), brake_value_int(40)};
  int rc = brake_call_start(engine, 1, "add", (const brake_value* const*)args, 2, NULL, on_done, &sum);
  brake_value_free(args[0]); /* the call copied its arguments */
  brake_value_free(args[1]);
  if (rc != BRAKE_OK) {
    fprintf(stderr, "add: %s\n", brake_last_error());
    brake_engine_free(engine); /* closes it: cancels live calls, joins its threads */
    return 1;
  }
  wait_for(&sum);
  printf("add(2, 40) = %lld\n", sum.value);

  Outcome nap = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
  brake_value* minute = brake_value_int(60000);
  rc = brake_call_start(engine, 2, "nap", (const brake_value* const*)&minute, 1, NULL, on_done, &nap);
  brake_value_free(minute);
  if (rc != BRAKE_OK) {
    fprintf(stderr, "nap: %s\n", brake_last_error());
    brake_engine_free(engine);
    return 1;
  }
  CancelJob job = {engine, 2};
  pthread_t t;
  pthread_create(&t, NULL, cancel_later, &job);
  pthread_join(t, NULL);
  wait_for(&nap);
  printf("nap(60000) cancelled from another thread: %s\n", nap.status == BRAKE_CANCELLED ? "yes" : "no");

  brake_engine_close(engine);
  brake_engine_free(engine);
  return sum.value == 42 && nap.status == BRAKE_CANCELLED ? 0 : 1;
}
