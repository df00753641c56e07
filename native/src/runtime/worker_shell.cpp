// worker_shell.cpp: baml.sys.shell(command), when the engine allows it
// (brake_engine_options.allow_shell; off by default).
//
// The command runs as `/bin/sh -c command`, the leader of a process group of
// its own, with stdin from /dev/null and, as its environment, only the
// engine's env option (scripts' variables; never the process's). One thread
// per running command reads its stdout and stderr and waits for it, then
// completes the operation through the worker's inbox like any completer.
// When the call stops waiting (a cancel, its deadline, the engine closing)
// the whole process group is killed with SIGKILL and the call settles at
// once, without waiting for the processes to go; the thread then reaps the
// shell and ends. kill() is never sent to a group whose leader was reaped
// (its id could be another's by then): the thread waits for the leader
// without reaping it (WNOWAIT), and reaps it under the same lock the
// killer takes. The leader is killed by its pid too, in case it left its
// group. The exit status comes from that wait; if the process was reaped
// by someone else (a host that sets SIGCHLD to SIG_IGN), the command fails
// saying so rather than passing for a success. The output buffer (at most
// 16 MiB per running command) is the thread's until the call takes it: it
// is charged to the call then, not while the command runs.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/utf8.h"
#include "runtime/engine.h"
#include "runtime/worker.h"

namespace brake::runtime {

namespace {

// A command's stdout is its result: past this it is killed and fails.
constexpr size_t kMaxShellOutput = size_t(16) << 20;
// What a failure's message keeps of its stderr.
constexpr size_t kStderrExcerpt = 1024;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

} // namespace

ShellOperation::~ShellOperation() { close_fd(wake_fd); }

// The call stopped waiting: the group goes, and the thread stops reading.
void ShellOperation::stop() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!reaped && pid > 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL); // (a leader that left its group)
    }
  }
  uint64_t one = 1;
  while (::write(wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}


namespace {

// Starts the command; false with `why` when it could not be.
bool spawn_shell(const std::string& command, const Environment& env, ShellOperation& op, int& out_fd, int& err_fd,
                 std::string& why) {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  op.wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (op.wake_fd < 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    why = std::string("could not make pipes for the command: ") + std::strerror(errno);
    for (int* fd : {&out[0], &out[1], &err[0], &err[1]}) close_fd(*fd);
    return false;
  }
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  // Its own process group (a cancel kills the group), the default action
  // for every signal (the host may ignore SIGPIPE; a pipeline needs it) and
  // nothing blocked.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close_fd(out[1]);
  close_fd(err[1]);
  if (rc != 0) {
    why = std::string("could not start /bin/sh: ") + std::strerror(rc);
    close_fd(out[0]);
    close_fd(err[0]);
    return false;
  }
  op.pid = pid;
  out_fd = out[0];
  err_fd = err[0];
  return true;
}

// The thread of one command: its output, its end, the operation's outcome.
void shell_thread(Worker* worker, ShellOperation* op, int out_fd, int err_fd) {
  std::string out, err;
  bool out_of_memory = false;
  bool too_long = false, stopped = false;
  pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {op->wake_fd, POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0 && !stopped && !too_long) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents) {
      stopped = true;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        close_fd(fds[i].fd);
        open--;
        continue;
      }
      try {
        if (i == 0) {
          if (out.size() + size_t(n) > kMaxShellOutput) too_long = true;
          else out.append(buf, size_t(n));
        } else if (err.size() < kStderrExcerpt) {
          err.append(buf, std::min(size_t(n), kStderrExcerpt - err.size()));
        }
      } catch (const std::bad_alloc&) {
        out_of_memory = too_long = true; // (killed below like a too long output)
      }
    }
  }
  if (too_long) {
    std::lock_guard<std::mutex> lock(op->mu);
    ::kill(-op->pid, SIGKILL);
    ::kill(op->pid, SIGKILL);
  }
  close_fd(fds[0].fd);
  close_fd(fds[1].fd);
  // The shell's end, seen without reaping it (see the top of this file).
  siginfo_t info{};
  int waited;
  while ((waited = ::waitid(P_PID, id_t(op->pid), &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> lock(op->mu);
    op->reaped = true; // (from here on nothing may signal its pid)
    if (waited == 0) {
      int status;
      while (::waitpid(op->pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  if (!stopped) {
    OperationOutcome outcome;
    try {
      if (waited != 0) {
        outcome.failed = true;
        outcome.error_message = "the command's exit status was lost (is SIGCHLD ignored in this process?)";
      } else if (out_of_memory) {
        outcome.failed = true;
        outcome.error_message = "out of memory reading the command's output";
      } else if (too_long) {
        outcome.failed = true;
        outcome.error_message = "the command's output passed " + std::to_string(kMaxShellOutput) + " bytes";
      } else if (info.si_code == CLD_EXITED && info.si_status == 0) {
        outcome.value = std::make_unique<brake_value>();
        outcome.value->kind = BRAKE_KIND_STRING;
        append_lossy_utf8(outcome.value->text, out);
      } else {
        outcome.failed = true;
        outcome.error_message = info.si_code == CLD_EXITED ? "exit code " + std::to_string(info.si_status)
                                                           : "killed by signal " + std::to_string(info.si_status);
        while (!err.empty() && (err.back() == '\n' || err.back() == '\r' || err.back() == ' ')) err.pop_back();
        if (!err.empty()) append_lossy_utf8(outcome.error_message += ": ", utf8_prefix(err, kStderrExcerpt));
      }
    } catch (const std::bad_alloc&) {
      outcome = OperationOutcome{};
      outcome.failed = true; // (an empty message: nothing more could be said)
    }
    Operation* ops[1] = {op};
    bool accepted = false;
    try {
      worker->complete_operations(ops, &outcome, 1, &accepted);
    } catch (const std::bad_alloc&) {
      // The worker's inbox could not grow: the call waits until it is cancelled.
    }
  }
  std::shared_ptr<std::atomic<bool>> done = op->thread_done;
  op->release();
  done->store(true, std::memory_order_release);
}

} // namespace

void Worker::start_shell(Call* call, const vm::Request& r) {
  try {
    start_shell_command(call, r);
  } catch (const std::bad_alloc&) {
    // (only before the command starts: nothing of it is left)
    fail_call(call, "out_of_memory", "out of memory running a shell command");
  }
}

void Worker::start_shell_command(Call* call, const vm::Request& r) {
  (void)r;
  if (!m_engine.shell_allowed()) {
    raise_where_waiting(call, vm::ScriptError{"shell_disabled",
                                              "baml.sys.shell is off in this engine (the engine option allowShell, "
                                              "C: allow_shell, turns it on)",
                                              {}, ""});
    return;
  }
  const std::string& command = call->fiber.request_args()[0].as_string()->text;
  if (command.find('\0') != std::string::npos) {
    raise_where_waiting(call, vm::ScriptError{"invalid_argument", "the shell command contains a NUL byte", {}, ""});
    return;
  }
  reap_shell_threads();
  auto* op = new_operation<ShellOperation>(call, "running a shell command");
  if (!op) return;
  try {
    if (m_shell_threads.size() == m_shell_threads.capacity()) m_shell_threads.reserve(2 * m_shell_threads.size() + 4);
    call->operation = add_operation(op); // adopts our reference
  } catch (const std::bad_alloc&) {
    op->release();
    fail_call(call, "out_of_memory", "out of memory running a shell command");
    return;
  }
  int out_fd = -1, err_fd = -1;
  std::string why;
  bool spawned;
  try {
    spawned = spawn_shell(command, m_engine.env(), *op, out_fd, err_fd, why);
  } catch (const std::bad_alloc&) {
    drop_operation(call, false);
    throw;
  }
  if (!spawned) {
    drop_operation(call, false);
    raise_where_waiting(call, vm::ScriptError{"shell_error", std::move(why), {}, ""});
    return;
  }
  op->retain(); // the thread's
  try {
    m_shell_threads.push_back(ShellThread{std::thread(shell_thread, this, op, out_fd, err_fd), op->thread_done});
  } catch (const std::exception&) { // system_error, bad_alloc
    // No thread: nobody would read or reap it. It goes, and the call fails.
    op->stop();
    close_fd(out_fd);
    close_fd(err_fd);
    int status;
    while (::waitpid(op->pid, &status, 0) < 0 && errno == EINTR) {
    }
    op->reaped = true;
    op->release();
    drop_operation(call, false);
    fail_call(call, "internal", "could not start a thread to run the shell command");
    return;
  }
  call->phase = Phase::Waiting;
}

// Joins the threads of commands that have ended.
void Worker::reap_shell_threads() {
  for (size_t i = 0; i < m_shell_threads.size();) {
    if (m_shell_threads[i].done->load(std::memory_order_acquire)) {
      m_shell_threads[i].thread.join();
      m_shell_threads[i] = std::move(m_shell_threads.back());
      m_shell_threads.pop_back();
    } else {
      i++;
    }
  }
}

// The engine is going: commands still running are killed, their threads joined.
void Worker::stop_shells() {
  for (Operation* op : m_operations)
    if (op && op->shell && op->try_cancel()) static_cast<ShellOperation*>(op)->stop();
  for (ShellThread& t : m_shell_threads) t.thread.join();
  m_shell_threads.clear();
}

// The command ended and the call still waits: its output, or its failure
// raised where the script waited.
void Worker::resume_shell(Call* call, Operation* op) {
  reap_shell_threads();
  OperationOutcome& outcome = op->outcome;
  if (outcome.failed) {
    raise_where_waiting(call, vm::ScriptError{"shell_error", std::move(outcome.error_message), {}, ""});
    return;
  }
  resume_with(call, "the output of a shell command", [&] { return call->fiber.heap().string_value(outcome.value->text); });
}

} // namespace brake::runtime
