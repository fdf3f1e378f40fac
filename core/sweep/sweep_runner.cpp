#include "core/sweep/sweep_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <set>
#include <thread>

#include "core/data/atomic_file.h"
#include "core/jobs/hosts_config.h"
#include "core/jobs/job_manager.h"
#include "core/project/project_yaml.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace qatwb::sweep {
namespace fs = std::filesystem;

namespace {

std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

}  // namespace

std::string progress_line(const SweepState& state, double elapsed_s, double mean_point_s,
                          int concurrency) {
  int done = 0, running = 0, failed = 0, pending = 0;
  for (const auto& p : state.points) {
    if (p.finished())
      ++done;
    else if (p.failed())
      ++failed;
    else if (p.active())
      ++running;
    else
      ++pending;
  }
  std::string line = std::to_string(done) + "/" + std::to_string(state.points.size()) + " done, " +
                     std::to_string(running) + " running, " + std::to_string(failed) + " failed, " +
                     std::to_string(pending) + " pending; " + duration(elapsed_s) + " elapsed";
  if (mean_point_s > 0 && (running + pending) > 0) {
    int lanes = concurrency > 0 ? concurrency : std::max(1, running + pending);
    double left = mean_point_s * std::ceil(double(running + pending) / lanes);
    line += ", ETA " + duration(left);
  }
  return line;
}

PreparedSweep prepare_sweep(const SweepSpec& spec, const BatchOptions& options, bool write) {
  PreparedSweep out;
  out.spec = spec;
  out.db_path = options.db_path.empty() ? store::kDefaultDbPath : options.db_path;
  out.db_path = fs::absolute(out.db_path).lexically_normal().string();
  if (!options.output.empty())
    out.output = options.output;
  else if (!spec.output.empty())
    out.output = spec.output;
  else
    out.output = SweepDir::default_for(out.db_path, spec.name).path();
  out.output = fs::absolute(out.output).lexically_normal().string();
  const SweepDir dir(out.output);
  out.state_path = dir.state_path();

  std::vector<std::string> problems;
  std::set<std::string> seen;
  std::vector<std::string> yaml;
  for (const auto& p : spec.points) {
    std::vector<std::string> overrides = p.overrides;
    overrides.push_back("name=" + spec.name);
    try {
      yaml.push_back(project::to_yaml(project::load_project(spec.base, overrides)));
    } catch (const Error& e) {
      std::string msg = e.what();
      if (seen.insert(msg).second) problems.push_back("point " + p.name + ": " + msg);
      continue;
    }
    out.points.push_back({p, dir.point_project(p.name), dir.point_run_dir(p.name)});
  }
  if (!problems.empty()) {
    std::string all =
        spec.file + ": " + std::to_string(problems.size()) + " point(s) do not validate:";
    for (const auto& m : problems) all += "\n" + m;
    throw Error(all);
  }
  if (write) {
    fs::create_directories(dir.points_dir());
    for (size_t i = 0; i < out.points.size(); ++i)
      data::write_file_atomically(out.points[i].project, "# " + spec.name + " / " +
                                                             out.points[i].point.name +
                                                             " (written by qatwb batch from " +
                                                             spec.file + ")\n" + yaml[i]);
  }
  return out;
}

BatchResult run_sweep(const SweepSpec& spec, const BatchOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  PreparedSweep prep = prepare_sweep(spec, options, true);
  const std::string launcher = options.launcher.empty() ? spec.launcher : options.launcher;
  int concurrency = options.concurrency >= 0 ? options.concurrency : spec.concurrency;
  if (concurrency < 0) concurrency = launcher == "local" ? 1 : 0;

  SweepState old = load_sweep_state(prep.state_path);
  SweepState state;
  state.sweep = spec.name;
  state.file = spec.file;
  state.db = prep.db_path;
  for (const auto& pp : prep.points) {
    PointState ps;
    if (PointState* prev = old.find(pp.point.name);
        prev && prev->overrides == pp.point.overrides && prev->run_dir == pp.run_dir) {
      ps = *prev;
    }
    ps.name = pp.point.name;
    ps.overrides = pp.point.overrides;
    ps.project = pp.project;
    ps.run_dir = pp.run_dir;
    state.points.push_back(ps);
  }
  auto save = [&] { save_sweep_state(prep.state_path, state); };
  save();

  jobs::JobsConfig cfg;
  cfg.db_path = prep.db_path;
  cfg.runs_root = SweepDir(prep.output).runs_dir();
  cfg.hosts_file = options.hosts_file;
  cfg.home = options.home;
  jobs::JobManager jm(cfg);

  std::vector<std::string> prefix = !options.worker_cmd.empty() ? options.worker_cmd : spec.worker;
  auto worker_for = [&](const PreparedPoint& pp) {
    std::vector<std::string> w = prefix;
    if (pp.point.worker_args.empty()) return w;
    if (w.empty()) {
      if (launcher.rfind("ssh:", 0) == 0)
        w = {jm.hosts().get(launcher.substr(4)).qatwb, "run"};
      else
        w = {jm.config().qatwb_path, "run"};
    }
    w.insert(w.end(), pp.point.worker_args.begin(), pp.point.worker_args.end());
    return w;
  };

  BatchResult result;
  result.output = prep.output;
  result.total = int(state.points.size());
  std::deque<size_t> queue;
  for (size_t i = 0; i < state.points.size(); ++i) {
    PointState& ps = state.points[i];
    if (ps.finished()) {
      ++result.skipped;
    } else if (ps.state == "pending" || (ps.failed() && options.retry_failed)) {
      queue.push_back(i);
    }
  }

  double sum_point_s = 0;
  int timed_points = 0;
  for (const auto& p : state.points)
    if (p.finished() && p.ended > p.started && p.started > 0) {
      sum_point_s += p.ended - p.started;
      ++timed_points;
    }
  std::string last_line;
  auto last_print = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto report = [&](bool force) {
    if (!options.progress) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string line =
        progress_line(state, elapsed, timed_points ? sum_point_s / timed_points : 0, concurrency);
    std::string counts = line.substr(0, line.find(';'));
    auto now = std::chrono::steady_clock::now();
    if (force || counts != last_line.substr(0, last_line.find(';')) ||
        now - last_print > std::chrono::seconds(10)) {
      *options.progress << "batch " << spec.name << ": " << line << std::endl;
      last_line = line;
      last_print = now;
    }
  };
  auto apply = [&](PointState& ps, const jobs::Job& job) {
    std::string s = jobs::to_string(job.state);
    bool changed = s != ps.state || job.reason != ps.reason;
    ps.state = s;
    ps.reason = job.reason;
    ps.attempts = job.attempts;
    if (jobs::is_terminal(job.state) && ps.ended == 0) {
      ps.ended = jobs::unix_now();
      if (ps.finished() && ps.started > 0) {
        sum_point_s += ps.ended - ps.started;
        ++timed_points;
      }
    }
    return changed;
  };

  auto request_for = [&](const PreparedPoint& pp, const PointState& ps) {
    jobs::SubmitRequest req;
    req.project = pp.project;
    req.launcher = launcher;
    req.worker_cmd = worker_for(pp);
    req.run_dir = pp.run_dir;
    req.slurm = spec.slurm;
    if (req.slurm.job_name.empty()) req.slurm.job_name = spec.name + "-" + ps.name;
    return req;
  };
  // A Slurm job array: every new point in one sbatch (retries go one by one, below).
  if (launcher == "slurm" && spec.slurm_array) {
    std::vector<size_t> fresh;
    std::vector<jobs::SubmitRequest> requests;
    for (size_t i : queue)
      if (state.points[i].job_id == 0) {
        fresh.push_back(i);
        requests.push_back(request_for(prep.points[i], state.points[i]));
        requests.back().slurm.job_name = spec.name;
      }
    if (!requests.empty()) {
      std::deque<size_t> rest;
      for (size_t i : queue)
        if (state.points[i].job_id != 0) rest.push_back(i);
      queue = rest;
      try {
        auto submitted = jm.submit_array(requests, concurrency);
        for (size_t n = 0; n < fresh.size(); ++n) {
          PointState& ps = state.points[fresh[n]];
          ps.job_id = submitted[n].id;
          ps.started = jobs::unix_now();
          apply(ps, submitted[n]);
        }
      } catch (const Error& e) {
        for (size_t i : fresh) {
          state.points[i].state = "failed";
          state.points[i].reason = e.what();
        }
        if (options.progress) *options.progress << "batch: " << e.what() << std::endl;
      }
      result.started += int(fresh.size());
      save();
    }
  }

  report(true);
  while (true) {
    bool changed = false;
    int in_flight = 0;
    for (auto& ps : state.points) {
      if (!ps.active()) continue;
      try {
        changed |= apply(ps, jm.poll(ps.job_id));
      } catch (const Error& e) {  // the job vanished from the registry (another database?)
        ps.state = "lost";
        ps.reason = e.what();
        changed = true;
      }
      if (ps.active()) ++in_flight;
    }
    const bool array_limits = launcher == "slurm" && spec.slurm_array;  // Slurm throttles
    while (!queue.empty() && (concurrency == 0 || array_limits || in_flight < concurrency)) {
      PointState& ps = state.points[queue.front()];
      const PreparedPoint& pp = prep.points[queue.front()];
      queue.pop_front();
      ps.started = jobs::unix_now();
      ps.ended = 0;
      try {
        jobs::Job job;
        if (ps.job_id != 0 && ps.failed()) {
          job = jm.resume(ps.job_id, worker_for(pp));
        } else {
          job = jm.submit(request_for(pp, ps));
        }
        ps.job_id = job.id;
        apply(ps, job);
      } catch (const Error& e) {
        ps.state = "failed";
        ps.reason = e.what();
        ps.ended = jobs::unix_now();
        if (options.progress)
          *options.progress << "batch: " << ps.name << ": " << e.what() << std::endl;
      }
      ++result.started;
      changed = true;
      if (ps.active()) ++in_flight;
    }
    if (changed) save();
    report(false);
    if (in_flight == 0 && queue.empty()) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_s));
  }
  save();
  report(true);
  for (const auto& ps : state.points) {
    if (ps.finished())
      ++result.succeeded;
    else if (ps.failed())
      ++result.failed;
  }
  result.state = state;
  return result;
}

}  // namespace qatwb::sweep
