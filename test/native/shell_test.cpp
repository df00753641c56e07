// shell_test.cpp: baml.sys.shell(command). Off unless the engine allows it;
// on, a command's stdout is the value, a nonzero exit a catchable
// "shell_error"; the command sees only the engine's env option; and a
// cancel, a call's deadline or freeing the engine kills the command's whole
// process group (children it started included) while the call settles at
// once. The stress case runs under ASan and TSan in CI.
#include <signal.h>
#include <sys/types.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_outcome.h"

namespace {

const char* kSource = R"(
function run(cmd: string) -> string { baml.sys.shell(cmd) }
function caught(cmd: string) -> string {
  baml.sys.shell(cmd) catch (e) {
    s: string => "caught " + s
  }
}
)";

brake_engine* shell_engine(bool allow, unsigned workers = 1) {
  brake_engine_options o;
  brake_engine_options_init(&o);
  o.worker_threads = workers;
  o.allow_shell = allow ? 1 : 0;
  static const char* names[] = {"GREETING"};
  static const char* values[] = {"hello from env"};
  o.env_names = names;
  o.env_values = values;
  o.env_count = 1;
  return engine_with(kSource, &o);
}

bool start(brake_engine* e, brake_call_id id, const char* fn, const std::string& cmd, Outcome* o,
           uint64_t timeout_ms = 0) {
  brake_value* v = nullptr;
  brake_value_string(cmd.data(), cmd.size(), &v);
  const brake_value* args[] = {v};
  brake_call_options opts;
  brake_call_options_init(&opts);
  opts.timeout_ms = timeout_ms;
  int rc = brake_call_start(e, id, fn, args, 1, &opts, outcome_done, o);
  brake_value_free(v);
  return rc == BRAKE_OK;
}

Outcome* run(brake_engine* e, const char* fn, const std::string& cmd) {
  static brake_call_id id = 1;
  auto* o = new Outcome();
  CHECK(start(e, id++, fn, cmd, o));
  CHECK(wait_for(*o));
  return o;
}

// Whether process `pid` is gone or a zombie (killed, not yet reaped by init).
bool dead(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' || line[paren + 2] == 'X';
}

// The pids a command wrote to `file` (one per line), waiting until it has `n`.
std::vector<long> read_pids(const std::string& file, size_t n) {
  std::vector<long> pids;
  for (int i = 0; i < 400 && pids.size() < n; i++) {
    pids.clear();
    std::ifstream in(file);
    long p;
    while (in >> p) pids.push_back(p);
    if (pids.size() < n) sleep_ms(5);
  }
  return pids;
}

bool all_dead_within(const std::vector<long>& pids, double ms) {
  double until = now_ms() + ms;
  for (;;) {
    bool all = true;
    for (long p : pids) all = all && dead(p);
    if (all) return true;
    if (now_ms() > until) return false;
    sleep_ms(2);
  }
}

} // namespace

BRAKE_TEST(off_by_default) {
  brake_engine* e = shell_engine(false);
  Outcome* o = run(e, "run", "echo hi");
  CHECK_EQ_INT(o->status, BRAKE_SCRIPT_ERROR);
  CHECK(o->kind == "shell_disabled");
  delete o;
  o = run(e, "caught", "echo hi"); // a script error like any: catchable
  CHECK(o->value.find("caught shell_disabled:") != std::string::npos);
  delete o;
  brake_engine_free(e);
}

BRAKE_TEST(output_exit_codes_and_environment) {
  brake_engine* e = shell_engine(true);
  Outcome* o = run(e, "run", "echo 'Hello From Shell!'");
  CHECK(o->value == "\"Hello From Shell!\\n\"");
  delete o;
  o = run(e, "run", "echo 'hello world' | tr 'a-z' 'A-Z'");
  CHECK(o->value == "\"HELLO WORLD\\n\"");
  delete o;
  o = run(e, "run", "printf '%s|%s' \"$GREETING\" \"${HOME:-unset}\"");
  CHECK(o->value == "\"hello from env|unset\""); // the engine's env option, nothing else
  delete o;
  o = run(e, "run", "echo oops >&2; exit 3");
  CHECK_EQ_INT(o->status, BRAKE_SCRIPT_ERROR);
  CHECK(o->kind == "shell_error");
  CHECK(o->message == "exit code 3: oops");
  delete o;
  o = run(e, "caught", "exit 1");
  CHECK(o->value == "\"caught shell_error: exit code 1\"");
  delete o;
  o = run(e, "run", "kill -9 $$");
  CHECK(o->message == "killed by signal 9");
  delete o;
  o = run(e, "run", "yes | head -c 3"); // SIGPIPE ends `yes` (whatever the host ignores)
  CHECK(o->value == "\"y\\ny\"");
  delete o;
  o = run(e, "run", "head -c 17000000 /dev/zero");
  CHECK(o->kind == "shell_error");
  CHECK(o->message.find("output passed 16777216 bytes") != std::string::npos);
  delete o;
  o = run(e, "run", "printf 'a\\377b'"); // not UTF-8: replaced
  CHECK(o->value == "\"a\xEF\xBF\xBD" "b\"");
  delete o;
  CHECK_EQ_INT(int(live_after(e, 2000)), 0);
  brake_engine_free(e);
}

BRAKE_TEST(cancel_kills_the_process_group_and_settles_at_once) {
  brake_engine* e = shell_engine(true);
  std::string file = "/tmp/brake_shell_test_" + std::to_string(getpid()) + ".pids";
  std::remove(file.c_str());
  // The shell and a child of it in the background, both sleeping.
  std::string cmd = "sleep 30 & echo $! >> " + file + "; echo $$ >> " + file + "; sleep 30";
  Outcome o;
  CHECK(start(e, 77, "run", cmd, &o));
  std::vector<long> pids = read_pids(file, 2);
  CHECK_EQ_INT(int(pids.size()), 2);
  double t0 = now_ms();
  CHECK_EQ_INT(brake_cancel(e, 77), BRAKE_OK);
  CHECK(wait_for(o));
  double settled = now_ms() - t0;
  CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
  std::fprintf(stderr, "cancel -> settled %.2f ms\n", settled);
  CHECK(settled < 500);
  CHECK(all_dead_within(pids, 2000));
  CHECK_EQ_INT(int(live_after(e, 2000)), 0);
  std::remove(file.c_str());
  brake_engine_free(e);
}

BRAKE_TEST(a_deadline_and_freeing_the_engine_kill_commands) {
  brake_engine* e = shell_engine(true);
  std::string file = "/tmp/brake_shell_test_dl_" + std::to_string(getpid()) + ".pids";
  std::remove(file.c_str());
  Outcome timed;
  CHECK(start(e, 1, "run", "echo $$ >> " + file + "; sleep 30", &timed, 100));
  CHECK(wait_for(timed));
  CHECK_EQ_INT(timed.status, BRAKE_TIMEOUT);
  std::vector<long> first = read_pids(file, 1);
  CHECK(all_dead_within(first, 2000));
  std::remove(file.c_str());
  // Still running when the engine is freed: killed, and the free returns.
  Outcome left;
  CHECK(start(e, 2, "run", "echo $$ >> " + file + "; sleep 30", &left));
  std::vector<long> second = read_pids(file, 1);
  CHECK_EQ_INT(int(second.size()), 1);
  double t0 = now_ms();
  brake_engine_free(e);
  CHECK(now_ms() - t0 < 2000);
  CHECK(wait_for(left));
  CHECK(all_dead_within(second, 2000));
  std::remove(file.c_str());
}

BRAKE_TEST(many_commands_with_cancels_from_another_thread) {
  brake_engine* e = shell_engine(true, 2);
  constexpr int kCalls = 60;
  std::vector<Outcome> outcomes(kCalls);
  for (int i = 0; i < kCalls; i++) {
    std::string cmd = i % 3 == 0 ? "sleep 5" : "echo " + std::to_string(i);
    CHECK(start(e, brake_call_id(1000 + i), "run", cmd, &outcomes[size_t(i)]));
  }
  std::thread canceller([&] {
    for (int i = 0; i < kCalls; i += 3) brake_cancel(e, brake_call_id(1000 + i));
  });
  canceller.join();
  for (int i = 0; i < kCalls; i++) {
    Outcome& o = outcomes[size_t(i)];
    CHECK(wait_for(o));
    std::lock_guard<std::mutex> lock(o.mu);
    CHECK_EQ_INT(o.completions, 1);
    if (i % 3 == 0) CHECK_EQ_INT(o.status, BRAKE_CANCELLED);
    else CHECK(o.value == "\"" + std::to_string(i) + "\\n\"");
  }
  CHECK_EQ_INT(int(live_after(e, 2000)), 0);
  brake_engine_free(e);
}

int main(int argc, char** argv) {
  static const TestCase cases[] = {
      TEST_ENTRY(off_by_default),
      TEST_ENTRY(output_exit_codes_and_environment),
      TEST_ENTRY(cancel_kills_the_process_group_and_settles_at_once),
      TEST_ENTRY(a_deadline_and_freeing_the_engine_kill_commands),
      TEST_ENTRY(many_commands_with_cancels_from_another_thread),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
