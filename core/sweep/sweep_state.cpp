#include "core/sweep/sweep_state.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/data/atomic_file.h"
#include "core/util/error.h"

namespace qatwb::sweep {

SweepDir::SweepDir(std::string output) : path_(std::move(output)) {
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
}
SweepDir SweepDir::default_for(const std::string& db_path, const std::string& sweep) {
  return SweepDir((std::filesystem::path(db_path).parent_path() / "sweeps" / sweep).string());
}
std::string SweepDir::state_path() const { return path_ + "/sweep.json"; }
std::string SweepDir::points_dir() const { return path_ + "/points"; }
std::string SweepDir::point_project(const std::string& point) const {
  return points_dir() + "/" + point + ".yaml";
}
std::string SweepDir::runs_dir() const { return path_ + "/runs"; }
std::string SweepDir::point_run_dir(const std::string& point) const {
  return runs_dir() + "/" + point;
}
std::string SweepDir::report_dir() const { return path_ + "/report"; }

namespace {
constexpr EnumRow<PointStatus> kPointStatuses[] = {
    {PointStatus::Pending, "pending", "not started yet (or reset for a retry)"},
    {PointStatus::Queued, "queued", "its job waits for a slot"},
    {PointStatus::Starting, "starting", "its job is being launched"},
    {PointStatus::Running, "running", "its job is training"},
    {PointStatus::Succeeded, "succeeded", "its job finished"},
    {PointStatus::Failed, "failed", "its job (or its submission) failed"},
    {PointStatus::Cancelled, "cancelled", "its job was cancelled"},
    {PointStatus::Lost, "lost", "its job vanished (process or registry gone)"},
};
}  // namespace

EnumRows<PointStatus> enum_rows(PointStatus) { return kPointStatuses; }

// A point takes its job's state by name: the table above is "pending" plus JobState's names.
PointStatus point_status(jobs::JobState state) {
  return parse_enum<PointStatus>(jobs::to_string(state)).value_or(PointStatus::Lost);
}

PointState* SweepState::find(const std::string& name) {
  for (auto& p : points)
    if (p.name == name) return &p;
  return nullptr;
}

SweepState load_sweep_state(const std::string& path) {
  SweepState s;
  if (!std::filesystem::exists(path)) return s;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(path + ": not a sweep state file (invalid JSON); remove it to start over");
  try {
    if (j.value("version", 0) != 1) throw Error(path + ": unknown sweep state version");
    s.sweep = j.value("sweep", "");
    s.file = j.value("file", "");
    s.db = j.value("db", "");
    for (const auto& p : j.at("points")) {
      PointState ps;
      ps.name = p.at("name").get<std::string>();
      ps.overrides = p.value("overrides", std::vector<std::string>{});
      ps.project = p.value("project", "");
      ps.run_dir = p.value("run_dir", "");
      ps.job_id = p.value("job_id", int64_t{0});
      const std::string state = p.value("state", "pending");
      const auto status = parse_enum<PointStatus>(state);
      if (!status)
        throw Error(path + ": point " + ps.name + ": unknown state '" + state + "' (expected " +
                    names_or(enum_names<PointStatus>()) + ")");
      ps.state = *status;
      ps.reason = p.value("reason", "");
      ps.attempts = p.value("attempts", 0);
      ps.started = p.value("started", 0.0);
      ps.ended = p.value("ended", 0.0);
      s.points.push_back(std::move(ps));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed sweep state: " + e.what());
  }
  return s;
}

void save_sweep_state(const std::string& path, const SweepState& s) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : s.points)
    points.push_back({{"name", p.name},
                      {"overrides", p.overrides},
                      {"project", p.project},
                      {"run_dir", p.run_dir},
                      {"job_id", p.job_id},
                      {"state", enum_name(p.state)},
                      {"reason", p.reason},
                      {"attempts", p.attempts},
                      {"started", p.started},
                      {"ended", p.ended}});
  nlohmann::json j = {
      {"version", 1}, {"sweep", s.sweep}, {"file", s.file}, {"db", s.db}, {"points", points}};
  data::write_file_atomically(path, j.dump(2) + "\n");
}

}  // namespace qatwb::sweep
