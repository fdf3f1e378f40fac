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

namespace {

using Clock = std::chrono::steady_clock;

// One `qatwb batch` run: the sweep's state file, a JobManager for its points, and the queue of
// points still to start. run() polls and starts until every point has ended.
class SweepRun {
 public:
  SweepRun(const SweepSpec& spec, const BatchOptions& options)
      : spec_(spec),
        options_(options),
        prep_(prepare_sweep(spec, options, true)),
        launcher_(options.launcher.empty() ? spec.launcher : options.launcher),
        concurrency_(options.concurrency >= 0 ? options.concurrency : spec.concurrency),
        state_(merged_state()),
        jm_(jobs_config()),
        prefix_(!options.worker_cmd.empty() ? options.worker_cmd : spec.worker) {
    if (concurrency_ < 0) concurrency_ = launcher_ == "local" ? 1 : 0;
  }

  BatchResult run() {
    result_.output = prep_.output;
    result_.total = int(state_.points.size());
    queue_points();
    if (launcher_ == "slurm" && spec_.slurm_array) submit_array();
    report(true);
    while (true) {
      bool changed = false;
      int in_flight = poll_points(changed);
      start_queued(in_flight, changed);
      if (changed) save();
      report(false);
      if (in_flight == 0 && queue_.empty()) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_s));
    }
    save();
    report(true);
    for (const auto& ps : state_.points) {
      if (ps.finished())
        ++result_.succeeded;
      else if (ps.failed())
        ++result_.failed;
    }
    result_.state = state_;
    return std::move(result_);
  }

 private:
  // The points of the sweep as it is now, each keeping what the state file knew of it when its
  // overrides and run directory are the same; written back before anything starts.
  SweepState merged_state() const {
    SweepState old = load_sweep_state(prep_.state_path);
    SweepState state;
    state.sweep = spec_.name;
    state.file = spec_.file;
    state.db = prep_.db_path;
    for (const auto& pp : prep_.points) {
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
    save_sweep_state(prep_.state_path, state);
    return state;
  }

  jobs::JobsConfig jobs_config() const {
    jobs::JobsConfig cfg;
    cfg.db_path = prep_.db_path;
    cfg.runs_root = SweepDir(prep_.output).runs_dir();
    cfg.hosts_file = options_.hosts_file;
    cfg.home = options_.home;
    return cfg;
  }

  void save() const { save_sweep_state(prep_.state_path, state_); }

  std::vector<std::string> worker_for(const PreparedPoint& pp) const {
    std::vector<std::string> w = prefix_;
    if (pp.point.worker_args.empty()) return w;
    if (w.empty()) {
      if (launcher_.rfind("ssh:", 0) == 0)
        w = {jm_.hosts().get(launcher_.substr(4)).qatwb, "run"};
      else
        w = {jm_.config().qatwb_path, "run"};
    }
    w.insert(w.end(), pp.point.worker_args.begin(), pp.point.worker_args.end());
    return w;
  }

  // Finished points are skipped; pending ones (and failed ones with retry_failed) are queued.
  // The finished points' durations seed the ETA.
  void queue_points() {
    for (size_t i = 0; i < state_.points.size(); ++i) {
      PointState& ps = state_.points[i];
      if (ps.finished()) {
        ++result_.skipped;
      } else if (ps.state == PointStatus::Pending || (ps.failed() && options_.retry_failed)) {
        queue_.push_back(i);
      }
    }
    for (const auto& p : state_.points)
      if (p.finished() && p.ended > p.started && p.started > 0) {
        sum_point_s_ += p.ended - p.started;
        ++timed_points_;
      }
  }

  // A progress line when the counts changed, at least every 10 s, or when forced.
  void report(bool force) {
    if (!options_.progress) return;
    double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::string line = progress_line(
        state_, elapsed, timed_points_ ? sum_point_s_ / timed_points_ : 0, concurrency_);
    std::string counts = line.substr(0, line.find(';'));
    auto now = Clock::now();
    if (force || counts != last_line_.substr(0, last_line_.find(';')) ||
        now - last_print_ > std::chrono::seconds(10)) {
      *options_.progress << "batch " << spec_.name << ": " << line << std::endl;
      last_line_ = line;
      last_print_ = now;
    }
  }

  // Copies the job's state into the point; true when its state or reason changed.
  bool apply(PointState& ps, const jobs::Job& job) {
    const PointStatus s = point_status(job.state);
    bool changed = s != ps.state || job.reason != ps.reason;
    ps.state = s;
    ps.reason = job.reason;
    ps.attempts = job.attempts;
    if (jobs::is_terminal(job.state) && ps.ended == 0) {
      ps.ended = jobs::unix_now();
      if (ps.finished() && ps.started > 0) {
        sum_point_s_ += ps.ended - ps.started;
        ++timed_points_;
      }
    }
    return changed;
  }

  jobs::SubmitRequest request_for(const PreparedPoint& pp, const PointState& ps) const {
    jobs::SubmitRequest req;
    req.project = pp.project;
    req.launcher = launcher_;
    req.worker_cmd = worker_for(pp);
    req.run_dir = pp.run_dir;
    req.slurm = spec_.slurm;
    if (req.slurm.job_name.empty()) req.slurm.job_name = spec_.name + "-" + ps.name;
    return req;
  }

  // A Slurm job array: every new point in one sbatch (retries go one by one, from the queue).
  void submit_array() {
    std::vector<size_t> fresh;
    std::vector<jobs::SubmitRequest> requests;
    for (size_t i : queue_)
      if (state_.points[i].job_id == 0) {
        fresh.push_back(i);
        requests.push_back(request_for(prep_.points[i], state_.points[i]));
        requests.back().slurm.job_name = spec_.name;
      }
    if (requests.empty()) return;
    std::deque<size_t> rest;
    for (size_t i : queue_)
      if (state_.points[i].job_id != 0) rest.push_back(i);
    queue_ = rest;
    try {
      auto submitted = jm_.submit_array(requests, concurrency_);
      for (size_t n = 0; n < fresh.size(); ++n) {
        PointState& ps = state_.points[fresh[n]];
        ps.job_id = submitted[n].id;
        ps.started = jobs::unix_now();
        apply(ps, submitted[n]);
      }
    } catch (const Error& e) {
      for (size_t i : fresh) {
        state_.points[i].state = PointStatus::Failed;
        state_.points[i].reason = e.what();
      }
      if (options_.progress) *options_.progress << "batch: " << e.what() << std::endl;
    }
    result_.started += int(fresh.size());
    save();
  }

  // Polls every active point; returns how many are still in flight.
  int poll_points(bool& changed) {
    int in_flight = 0;
    for (auto& ps : state_.points) {
      if (!ps.active()) continue;
      try {
        changed |= apply(ps, jm_.poll(ps.job_id));
      } catch (const Error& e) {  // the job vanished from the registry (another database?)
        ps.state = PointStatus::Lost;
        ps.reason = e.what();
        changed = true;
      }
      if (ps.active()) ++in_flight;
    }
    return in_flight;
  }

  // Starts queued points while the concurrency allows (a Slurm array throttles itself).
  void start_queued(int& in_flight, bool& changed) {
    const bool array_limits = launcher_ == "slurm" && spec_.slurm_array;
    while (!queue_.empty() && (concurrency_ == 0 || array_limits || in_flight < concurrency_)) {
      PointState& ps = state_.points[queue_.front()];
      const PreparedPoint& pp = prep_.points[queue_.front()];
      queue_.pop_front();
      ps.started = jobs::unix_now();
      ps.ended = 0;
      try {
        jobs::Job job = ps.job_id != 0 && ps.failed() ? jm_.resume(ps.job_id, worker_for(pp))
                                                      : jm_.submit(request_for(pp, ps));
        ps.job_id = job.id;
        apply(ps, job);
      } catch (const Error& e) {
        ps.state = PointStatus::Failed;
        ps.reason = e.what();
        ps.ended = jobs::unix_now();
        if (options_.progress)
          *options_.progress << "batch: " << ps.name << ": " << e.what() << std::endl;
      }
      ++result_.started;
      changed = true;
      if (ps.active()) ++in_flight;
    }
  }

  const Clock::time_point t0_ = Clock::now();
  const SweepSpec& spec_;
  const BatchOptions& options_;
  PreparedSweep prep_;
  std::string launcher_;
  int concurrency_;
  SweepState state_;
  jobs::JobManager jm_;
  std::vector<std::string> prefix_;
  BatchResult result_;
  std::deque<size_t> queue_;
  double sum_point_s_ = 0;
  int timed_points_ = 0;
  std::string last_line_;
  Clock::time_point last_print_ = Clock::now() - std::chrono::hours(1);
};

}  // namespace

BatchResult run_sweep(const SweepSpec& spec, const BatchOptions& options) {
  return SweepRun(spec, options).run();
}

}  // namespace qatwb::sweep
