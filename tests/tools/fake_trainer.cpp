// fake_trainer: a stand-in for `qatwb run` that the jobs tests launch through the real launchers.
// It speaks the worker's command line and event schema, with scripted behaviour:
//
//   fake_trainer [options] PROJECT --run-dir DIR     a new run
//   fake_trainer [options] --resume DIR              continue after the last checkpoint event
//
//   --steps N            metric steps in total (default 10); metric loss = 10/step, lr = 0.001
//   --delay-ms D         sleep between steps (default 20)
//   --checkpoint-every K checkpoint (folder + event) every K steps (default 0: only on stop)
//   --crash-at S         after step S exit with --exit-code (default 3), no end event
//   --abort-at S         after step S call abort() (SIGABRT), no end event
//   --fail-at S          after step S write end status "failed" and exit 1
//   --hang-at S          after step S sleep until a signal
//   --ignore-sigterm     SIGTERM and SIGINT are ignored (cancel must escalate to SIGKILL)
//   --garbage            also write a garbage line after step 1 and a truncated line on crash
//
// SIGTERM/SIGINT (unless ignored): checkpoint at the last step, end "stopped", exit 130.
// With $RANK set (srun), writes DIR/rank-<RANK>.env with the c10d variables; only rank 0
// writes events. Plain C++ over core/run's event writer: no torch.
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/run/event_log.h"
#include "core/run/run_dir.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  int64_t steps = 10;
  int delay_ms = 20;
  int64_t checkpoint_every = 0;
  int64_t crash_at = -1, abort_at = -1, fail_at = -1, hang_at = -1;
  int exit_code = 3;
  bool ignore_sigterm = false;
  bool garbage = false;
  std::string project, run_dir;
  bool resume = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "fake_trainer: " << why << "\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](size_t& i) -> std::string {
    if (i + 1 >= args.size()) usage(args[i] + " needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--steps")
      o.steps = std::stoll(value(i));
    else if (a == "--delay-ms")
      o.delay_ms = std::stoi(value(i));
    else if (a == "--checkpoint-every")
      o.checkpoint_every = std::stoll(value(i));
    else if (a == "--crash-at")
      o.crash_at = std::stoll(value(i));
    else if (a == "--exit-code")
      o.exit_code = std::stoi(value(i));
    else if (a == "--abort-at")
      o.abort_at = std::stoll(value(i));
    else if (a == "--fail-at")
      o.fail_at = std::stoll(value(i));
    else if (a == "--hang-at")
      o.hang_at = std::stoll(value(i));
    else if (a == "--ignore-sigterm")
      o.ignore_sigterm = true;
    else if (a == "--garbage")
      o.garbage = true;
    else if (a == "--run-dir")
      o.run_dir = value(i);
    else if (a == "--resume") {
      o.resume = true;
      o.run_dir = value(i);
    } else if (a == "run")
      continue;  // tolerate a `qatwb run`-like prefix
    else if (!a.empty() && a[0] == '-')
      usage("unknown option " + a);
    else
      o.project = a;
  }
  if (o.run_dir.empty()) usage("--run-dir DIR or --resume DIR is required");
  if (!o.resume && o.project.empty()) usage("PROJECT is required");
  return o;
}

void sleep_ms(int ms) {
  for (int left = ms; left > 0 && !g_stop; left -= 10) {
    timespec ts{0, std::min(left, 10) * 1000000L};
    nanosleep(&ts, nullptr);
  }
}

void append_raw(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, text.data(), text.size());
  (void)ignored;
  close(fd);
}

// The step of the last checkpoint event in the log (0: none).
int64_t last_checkpoint(const std::string& events) {
  std::vector<qatwb::run::LogLine> lines;
  int64_t off = 0, step = 0;
  while (true) {
    lines.clear();
    int64_t next = qatwb::run::read_complete_lines(events, off, lines);
    if (next == off) break;
    for (const auto& l : lines) {
      auto ev = qatwb::run::parse_event_line(l.text);
      if (ev && ev->type == qatwb::run::EventType::Checkpoint && ev->step) step = *ev->step;
    }
    off = next;
  }
  return step;
}

void write_checkpoint(qatwb::run::EventWriter& w, const qatwb::run::RunDir& dir, int64_t step) {
  std::string path = dir.checkpoint_path(step);
  std::filesystem::create_directories(path);
  std::ofstream(path + "/state.txt") << "step " << step << "\n";
  w.checkpoint(step, path);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = o.ignore_sigterm ? SIG_IGN : on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  qatwb::run::RunDir dir(o.run_dir);
  dir.create();
  const char* rank_env = std::getenv("RANK");
  int rank = rank_env ? std::atoi(rank_env) : 0;
  if (rank_env) {
    std::ofstream env(o.run_dir + "/rank-" + std::to_string(rank) + ".env");
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
      const char* v = std::getenv(k);
      env << k << "=" << (v ? v : "") << "\n";
    }
  }
  if (rank != 0) {  // only rank 0 reports; the others just "train"
    for (int64_t s = 1; s <= o.steps && !g_stop; ++s) sleep_ms(o.delay_ms);
    return g_stop ? 130 : 0;
  }

  const std::string events = dir.events_path();
  int64_t first = o.resume ? last_checkpoint(events) + 1 : 1;
  qatwb::run::EventWriter w(events);
  qatwb::run::StartInfo info;
  info.run = dir.name();
  info.project = o.project.empty() ? "fake" : o.project;
  info.host = "localhost";
  info.pid = getpid();
  info.device = "cpu";
  info.threads = 1;
  w.start(info);
  std::cout << "fake_trainer: " << (o.resume ? "resuming" : "starting") << " at step " << first
            << " of " << o.steps << std::endl;
  const char* db = std::getenv("QATWB_DB");
  std::cout << "fake_trainer: QATWB_DB=" << (db ? db : "") << std::endl;

  int64_t done = first - 1;
  for (int64_t step = first; step <= o.steps; ++step) {
    if (g_stop) break;
    sleep_ms(o.delay_ms);
    if (g_stop) break;
    w.metric(step, {{"loss", 10.0 / double(step)}, {"lr", 0.001}});
    done = step;
    std::cout << "step " << step << " loss " << 10.0 / double(step) << std::endl;
    if (o.garbage && step == 1) append_raw(events, "this is not json {\n");
    if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) write_checkpoint(w, dir, step);
    if (step == o.crash_at) {
      if (o.garbage) append_raw(events, "{\"v\":1,\"type\":\"metric\",\"step\":");
      std::cout << "fake_trainer: crashing with exit code " << o.exit_code << std::endl;
      _exit(o.exit_code);
    }
    if (step == o.abort_at) std::abort();
    if (step == o.fail_at) {
      w.end("failed", "scripted failure at step " + std::to_string(step), {}, step);
      return 1;
    }
    if (step == o.hang_at) {
      std::cout << "fake_trainer: hanging" << std::endl;
      while (!g_stop) sleep_ms(50);
    }
  }
  if (g_stop) {
    if (done >= 1) write_checkpoint(w, dir, done);
    w.end("stopped", "signal", {}, done);
    std::cout << "fake_trainer: stopped at step " << done << std::endl;
    return 130;
  }
  w.end("finished", "completed " + std::to_string(o.steps) + " steps", {{"loss", 10.0 / o.steps}},
        o.steps);
  return 0;
}
