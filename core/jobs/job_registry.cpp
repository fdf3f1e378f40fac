#include "core/jobs/job_registry.h"

#include <nlohmann/json.hpp>

#include "core/store/sqlite_util.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace qatwb::jobs {

using nlohmann::json;

std::string job_to_json(const Job& job, int indent) {
  json j;
  j["id"] = job.id;
  j["launcher"] = to_string(job.launcher);
  j["host"] = job.host;
  j["state"] = to_string(job.state);
  j["reason"] = job.reason;
  j["project"] = job.project;
  j["run_dir"] = job.run_dir;
  j["remote_dir"] = job.remote_dir;
  j["worker_cmd"] = job.worker_cmd;
  j["bundle"] = job.bundle;
  j["worker_env"] = job.worker_env;
  j["pid"] = job.pid;
  j["pid_start"] = job.pid_start;
  j["slurm_id"] = job.slurm_id;
  j["slurm"] = {{"partition", job.slurm.partition},
                {"nodes", job.slurm.nodes},
                {"tasks_per_node", job.slurm.tasks_per_node},
                {"gpus_per_node", job.slurm.gpus_per_node},
                {"cpus_per_task", job.slurm.cpus_per_task},
                {"time", job.slurm.time},
                {"account", job.slurm.account},
                {"job_name", job.slurm.job_name},
                {"master_port", job.slurm.master_port},
                {"extra_lines", job.slurm.extra_lines}};
  j["exit_code"] = job.exit_code ? json(*job.exit_code) : json(nullptr);
  j["events_offset"] = job.events_offset;
  j["log_offset"] = job.log_offset;
  j["saw_start"] = job.saw_start;
  j["end_status"] = job.end_status;
  j["end_reason"] = job.end_reason;
  j["last_step"] = job.last_step;
  j["grace_s"] = job.grace_s;
  j["cancel_time"] = job.cancel_time;
  j["kill_sent"] = job.kill_sent;
  j["attempts"] = job.attempts;
  j["created"] = job.created;
  j["updated"] = job.updated;
  return j.dump(indent);
}

Job job_from_json(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(what + ": not a JSON object");
  Job job;
  try {
    job.id = j.value("id", int64_t{0});
    job.launcher = parse_enum<LauncherKind>(j.value("launcher", std::string("local")))
                       .value_or(LauncherKind::Local);
    job.host = j.value("host", std::string());
    job.state = parse_enum_or_throw<JobState>(j.value("state", std::string("queued")), "job state");
    job.reason = j.value("reason", std::string());
    job.project = j.value("project", std::string());
    job.run_dir = j.value("run_dir", std::string());
    job.remote_dir = j.value("remote_dir", std::string());
    job.worker_cmd = j.value("worker_cmd", std::vector<std::string>{});
    job.bundle = j.value("bundle", std::vector<std::string>{});
    job.worker_env = j.value("worker_env", std::vector<std::string>{});
    job.pid = j.value("pid", int64_t{0});
    job.pid_start = j.value("pid_start", int64_t{0});
    job.slurm_id = j.value("slurm_id", std::string());
    if (j.contains("slurm") && j["slurm"].is_object()) {
      const json& s = j["slurm"];
      job.slurm.partition = s.value("partition", std::string());
      job.slurm.nodes = s.value("nodes", 1);
      job.slurm.tasks_per_node = s.value("tasks_per_node", 1);
      job.slurm.gpus_per_node = s.value("gpus_per_node", 0);
      job.slurm.cpus_per_task = s.value("cpus_per_task", 0);
      job.slurm.time = s.value("time", std::string());
      job.slurm.account = s.value("account", std::string());
      job.slurm.job_name = s.value("job_name", std::string());
      job.slurm.master_port = s.value("master_port", 29500);
      job.slurm.extra_lines = s.value("extra_lines", std::vector<std::string>{});
    }
    if (j.contains("exit_code") && j["exit_code"].is_number_integer()) {
      job.exit_code = j["exit_code"].get<int>();
    }
    job.events_offset = j.value("events_offset", int64_t{0});
    job.log_offset = j.value("log_offset", int64_t{0});
    job.saw_start = j.value("saw_start", false);
    job.end_status = j.value("end_status", std::string());
    job.end_reason = j.value("end_reason", std::string());
    job.last_step = j.value("last_step", int64_t{-1});
    job.grace_s = j.value("grace_s", 30.0);
    job.cancel_time = j.value("cancel_time", 0.0);
    job.kill_sent = j.value("kill_sent", false);
    job.attempts = j.value("attempts", 1);
    job.created = j.value("created", 0.0);
    job.updated = j.value("updated", 0.0);
  } catch (const json::exception& e) {
    throw Error(what + ": " + e.what());
  }
  return job;
}

JobRegistry::JobRegistry(const std::string& db_path)
    : store_(std::make_unique<store::Store>(store::Store::open(db_path))) {
  store::exec_sql(store_->handle(), store_->path(),
                  "CREATE TABLE IF NOT EXISTS jobs ("
                  " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                  " launcher TEXT NOT NULL, state TEXT NOT NULL, run_dir TEXT NOT NULL,"
                  " updated REAL NOT NULL, data TEXT NOT NULL)");
}

JobRegistry::~JobRegistry() = default;
JobRegistry::JobRegistry(JobRegistry&&) noexcept = default;
JobRegistry& JobRegistry::operator=(JobRegistry&&) noexcept = default;

store::Store& JobRegistry::store() { return *store_; }
const std::string& JobRegistry::path() const { return store_->path(); }

void JobRegistry::add(Job& job) {
  sqlite3* db = store_->handle();
  const std::string& path = store_->path();
  job.created = job.updated = unix_now();
  store::Transaction tx(db, path);
  {
    store::Stmt ins(db, path,
                    "INSERT INTO jobs(launcher, state, run_dir, updated, data) "
                    "VALUES(?, ?, ?, ?, '{}')");
    ins.bind_text(1, to_string(job.launcher))
        .bind_text(2, to_string(job.state))
        .bind_text(3, job.run_dir)
        .bind_double(4, job.updated);
    ins.run();
  }
  job.id = sqlite3_last_insert_rowid(db);
  {
    store::Stmt up(db, path, "UPDATE jobs SET data = ? WHERE id = ?");
    up.bind_text(1, job_to_json(job)).bind_int(2, job.id);
    up.run();
  }
  tx.commit();
}

void JobRegistry::update(Job& job) {
  sqlite3* db = store_->handle();
  const std::string& path = store_->path();
  job.updated = unix_now();
  store::Transaction tx(db, path);
  {
    // Another invocation may have written the job since we read it: a cancel request is never
    // lost, and a poll of an older attempt never overwrites a resumed job.
    store::Stmt q(db, path, "SELECT data FROM jobs WHERE id = ?");
    q.bind_int(1, job.id);
    if (!q.step()) throw Error(path + ": no job " + std::to_string(job.id));
    Job current = job_from_json(q.col_text(0), path + ": job " + std::to_string(job.id));
    if (current.attempts > job.attempts) {
      job = current;
      job.id = current.id;
      return;
    }
    if (current.attempts == job.attempts && current.cancel_time > 0 && job.cancel_time == 0) {
      job.cancel_time = current.cancel_time;
      job.grace_s = current.grace_s;
      job.kill_sent = job.kill_sent || current.kill_sent;
    }
  }
  store::Stmt up(db, path,
                 "UPDATE jobs SET state = ?, run_dir = ?, updated = ?, data = ? WHERE id = ?");
  up.bind_text(1, to_string(job.state))
      .bind_text(2, job.run_dir)
      .bind_double(3, job.updated)
      .bind_text(4, job_to_json(job))
      .bind_int(5, job.id);
  up.run();
  if (sqlite3_changes(db) != 1) throw Error(path + ": no job " + std::to_string(job.id));
  tx.commit();
}

std::optional<Job> JobRegistry::find(int64_t id) const {
  store::Stmt q(store_->handle(), store_->path(), "SELECT data FROM jobs WHERE id = ?");
  q.bind_int(1, id);
  if (!q.step()) return std::nullopt;
  Job job = job_from_json(q.col_text(0), store_->path() + ": job " + std::to_string(id));
  job.id = id;
  return job;
}

Job JobRegistry::get(int64_t id) const {
  auto job = find(id);
  if (!job) throw Error("no job " + std::to_string(id) + " in " + store_->path());
  return *job;
}

std::vector<Job> JobRegistry::list() const {
  std::vector<Job> out;
  store::Stmt q(store_->handle(), store_->path(), "SELECT id, data FROM jobs ORDER BY id");
  while (q.step()) {
    Job job =
        job_from_json(q.col_text(1), store_->path() + ": job " + std::to_string(q.col_int(0)));
    job.id = q.col_int(0);
    out.push_back(std::move(job));
  }
  return out;
}

}  // namespace qatwb::jobs
