// fake_trainer: a stand-in for `qatwb run` that the jobs tests launch through the real launchers.
// It speaks the worker's command line and event schema, with scripted behaviour:
//
//   fake_trainer [options] PROJECT --run-dir DIR     a new run
//   fake_trainer [options] --resume DIR              continue after the last checkpoint event
//
//   --steps N            metric steps in total (default: the project's train.steps, else 10);
//                        metric loss = 10/step, lr = 0.001
//   --delay-ms D         sleep between steps (default 20)
//   --checkpoint-every K checkpoint (folder + event) every K steps (default 0: only on stop)
//   --crash-at S         after step S exit with --exit-code (default 3), no end event
//   --abort-at S         after step S call abort() (SIGABRT), no end event
//   --fail-at S          after step S write end status "failed" and exit 1
//   --hang-at S          after step S sleep until a signal
//   --ignore-sigterm     SIGTERM and SIGINT are ignored (cancel must escalate to SIGKILL)
//   --garbage            also write a garbage line after step 1 and a truncated line on crash
//   --fail-once-at S     as --fail-at, unless the log already holds a failed end (a retry passes)
//
// When PROJECT loads (core/project), its resolved config goes into the start event and the run
// emits, besides loss = 10/step and lr = 0.001, numbers derived only from the project so that a
// report of a sweep is predictable (b = quant.bits, k = surrogate index: ste 0, stableqat 1,
// dsq 2, lsq 3, pact 4, paretoq 5, ewgs 6; s = train.seed; N = steps):
//   metric every step:   grad_norm = 1 + 0.25 * ((step + s) % 2), step_time_s = 0.01 * (1 + k/2),
//                        tokens_per_s = 1000, code_flip_fraction = 0.01 * (k + 1) (quantized runs)
//   eval step 0:         ppl_fp = 20, ppl_rtn = 20 + 2^(6 - b)           (quantized runs)
//   eval step N/2 and N: ppl_postquant = rtn - (rtn - fp) * r * {1/2, 1}, r = 0.5 + 0.125k +
//   0.0625s unquantized runs:    eval ppl = 20 at the end
// SIGTERM/SIGINT (unless ignored): checkpoint at the last step, end "stopped", exit 130.
// With $RANK set (srun), writes DIR/rank-<RANK>.env with the c10d variables; only rank 0
// writes events. Plain C++ over core/run's event writer: no torch.
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/project/project_yaml.h"
#include "core/run/event_log.h"
#include "core/run/run_dir.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  int64_t steps = 10;
  bool steps_given = false;
  int delay_ms = 20;
  int64_t checkpoint_every = 0;
  int64_t crash_at = -1, abort_at = -1, fail_at = -1, hang_at = -1, fail_once_at = -1;
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
      o.steps = std::stoll(value(i)), o.steps_given = true;
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
    else if (a == "--fail-once-at")
      o.fail_once_at = std::stoll(value(i));
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

// True when the log already holds an end event with status "failed".
bool failed_before(const std::string& events) {
  std::vector<qatwb::run::LogLine> lines;
  int64_t off = 0;
  while (true) {
    lines.clear();
    int64_t next = qatwb::run::read_complete_lines(events, off, lines);
    if (next == off) return false;
    for (const auto& l : lines) {
      auto ev = qatwb::run::parse_event_line(l.text);
      if (ev && ev->type == qatwb::run::EventType::End && ev->status == "failed") return true;
    }
    off = next;
  }
}

// The project's numbers (see the header); `loaded` false when PROJECT is not a valid project.
struct Scripted {
  bool loaded = false, quantized = false;
  double bits = 4, k = 0, seed = 0;
  int64_t steps = 0;
  std::string name;
  std::string config_json = "{}";
  double ppl_fp() const { return 20.0; }
  double ppl_rtn() const { return 20.0 + std::pow(2.0, 6.0 - bits); }
  double recovery() const { return 0.5 + 0.125 * k + 0.0625 * seed; }
  double ppl_postquant(double fraction) const {
    return ppl_rtn() - (ppl_rtn() - ppl_fp()) * recovery() * fraction;
  }
};

Scripted scripted(const std::string& project) {
  Scripted sc;
  if (project.empty()) return sc;
  try {
    auto config = qatwb::project::load_project(project);
    sc.loaded = true;
    sc.quantized = config.quant.enabled;
    sc.bits = config.quant.bits;
    sc.k = static_cast<double>(static_cast<int>(config.quant.surrogate));
    sc.seed = static_cast<double>(config.train.seed);
    sc.config_json = qatwb::project::to_json(config);
    sc.steps = config.train.steps;
    sc.name = config.name;
  } catch (const std::exception& e) {
    std::cout << "fake_trainer: project not loaded (" << e.what() << ")" << std::endl;
  }
  return sc;
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
  const bool retry = failed_before(events);
  std::string project = o.project;
  if (o.resume && project.empty() && std::filesystem::exists(dir.config_path()))
    project = dir.config_path();
  const Scripted sc = scripted(project);
  if (sc.loaded && !o.steps_given) o.steps = sc.steps;
  if (!o.resume && sc.loaded && !project.empty())
    std::filesystem::copy_file(project, dir.config_path(),
                               std::filesystem::copy_options::overwrite_existing);
  int64_t first = o.resume ? last_checkpoint(events) + 1 : 1;
  qatwb::run::EventWriter w(events);
  qatwb::run::StartInfo info;
  info.run = dir.name();
  info.project = o.project.empty() ? "fake" : o.project;
  info.host = "localhost";
  info.pid = getpid();
  info.device = "cpu";
  info.threads = 1;
  info.config_json = sc.config_json;
  if (sc.loaded) info.project = sc.name;
  w.start(info);
  if (sc.loaded && first == 1) {
    if (sc.quantized) w.eval(0, {{"ppl_fp", sc.ppl_fp()}, {"ppl_rtn", sc.ppl_rtn()}});
  }
  std::cout << "fake_trainer: " << (o.resume ? "resuming" : "starting") << " at step " << first
            << " of " << o.steps << std::endl;
  const char* db = std::getenv("QATWB_DB");
  std::cout << "fake_trainer: QATWB_DB=" << (db ? db : "") << std::endl;

  int64_t done = first - 1;
  for (int64_t step = first; step <= o.steps; ++step) {
    if (g_stop) break;
    sleep_ms(o.delay_ms);
    if (g_stop) break;
    if (sc.loaded) {
      std::map<std::string, double> values = {
          {"loss", 10.0 / double(step)},
          {"lr", 0.001},
          {"grad_norm", 1.0 + 0.25 * double((step + int64_t(sc.seed)) % 2)},
          {"step_time_s", 0.01 * (1.0 + sc.k / 2.0)},
          {"tokens_per_s", 1000.0}};
      if (sc.quantized) values["code_flip_fraction"] = 0.01 * (sc.k + 1.0);
      w.metric(step - 1, values);  // the trainer's metric step: the 0-based index
      if (sc.quantized && step == o.steps / 2 && step < o.steps)
        w.eval(step, {{"ppl_postquant", sc.ppl_postquant(0.5)}});
    } else {
      w.metric(step - 1, {{"loss", 10.0 / double(step)}, {"lr", 0.001}});
    }
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
    if (step == o.fail_at || (step == o.fail_once_at && !retry)) {
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
  if (sc.loaded) {
    if (sc.quantized)
      w.eval(o.steps, {{"ppl_postquant", sc.ppl_postquant(1.0)}});
    else
      w.eval(o.steps, {{"ppl", sc.ppl_fp()}});
  }
  w.end("finished", "completed " + std::to_string(o.steps) + " steps", {{"loss", 10.0 / o.steps}},
        o.steps);
  return 0;
}
