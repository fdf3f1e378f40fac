#include "core/sweep/sweep_spec.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/project/config_node.h"
#include "core/util/error.h"

namespace qatwb::sweep {
namespace fs = std::filesystem;
using project::ConfigEntry;
using project::ConfigNode;

namespace {

[[noreturn]] void fail(const ConfigNode& node, const std::string& field, const std::string& msg) {
  throw Error(node.origin.where() + ": " + field + ": " + msg);
}

const ConfigNode& expect_map(const ConfigNode& node, const std::string& field) {
  if (!node.is_map()) fail(node, field, "expected a map, got " + node.describe());
  return node;
}

std::string scalar(const ConfigNode& node, const std::string& field) {
  if (node.kind != ConfigNode::Kind::Scalar)
    fail(node, field, "expected a value, got " + node.describe());
  return node.scalar;
}

int64_t integer(const ConfigNode& node, const std::string& field, int64_t min) {
  std::string s = scalar(node, field);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < min)
    fail(node, field, "expected an integer >= " + std::to_string(min) + ", got '" + s + "'");
  return v;
}

std::vector<std::string> string_list(const ConfigNode& node, const std::string& field) {
  std::vector<std::string> out;
  if (node.kind == ConfigNode::Kind::Scalar) return {node.scalar};
  if (node.kind != ConfigNode::Kind::Sequence)
    fail(node, field, "expected a list, got " + node.describe());
  for (size_t i = 0; i < node.items.size(); ++i)
    out.push_back(scalar(node.items[i], field + "[" + std::to_string(i) + "]"));
  return out;
}

// The YAML text of an override value: scalars as written, lists and maps as JSON (valid YAML).
std::string value_text(const ConfigNode& node) {
  if (node.kind == ConfigNode::Kind::Scalar) return node.scalar;
  if (node.kind == ConfigNode::Kind::Null) return "null";
  return project::emit_json(node);
}

void check_key(const ConfigEntry& e, const std::string& field) {
  if (e.key.empty() || e.key.find('=') != std::string::npos)
    throw Error(e.key_origin.where() + ": " + field + ": '" + e.key + "' is not a project field");
}

// A sweep is a list of runs to launch; a few short lists multiply fast (40 keys of two values
// each stand for 2^40 runs), so the expansion stops long before memory does.
constexpr size_t kMaxPoints = 10000;

struct RawPoint {
  std::string name;
  std::vector<std::string> overrides;  // the point's own (no `set`)
  std::vector<std::string> worker_args;
};

RawPoint read_point(const ConfigNode& node, const std::string& field) {
  expect_map(node, field);
  RawPoint p;
  for (const auto& e : node.entries) {
    if (e.key == "name") {
      p.name = scalar(e.value, field + ".name");
    } else if (e.key == "worker_args") {
      p.worker_args = string_list(e.value, field + ".worker_args");
    } else {
      check_key(e, field);
      p.overrides.push_back(e.key + "=" + value_text(e.value));
    }
  }
  return p;
}

std::vector<RawPoint> expand_grid(const ConfigNode& grid) {
  expect_map(grid, "grid");
  std::vector<RawPoint> out = {RawPoint{}};
  for (const auto& e : grid.entries) {
    check_key(e, "grid");
    const std::string field = "grid." + e.key;
    std::vector<const ConfigNode*> values;
    if (e.value.kind == ConfigNode::Kind::Sequence) {
      for (const auto& item : e.value.items) values.push_back(&item);
    } else if (e.value.kind == ConfigNode::Kind::Scalar) {
      values.push_back(&e.value);
    } else {
      fail(e.value, field, "expected a list of values, got " + e.value.describe());
    }
    if (values.empty()) fail(e.value, field, "the list of values is empty");
    if (out.size() > kMaxPoints / values.size())
      fail(e.value, field,
           "the grid expands to more than " + std::to_string(kMaxPoints) +
               " points; split the sweep");
    std::vector<RawPoint> next;
    for (const auto& p : out)
      for (const ConfigNode* v : values) {
        RawPoint q = p;
        q.overrides.push_back(e.key + "=" + value_text(*v));
        next.push_back(std::move(q));
      }
    out = std::move(next);
  }
  return out;
}

bool boolean(const ConfigNode& node, const std::string& field) {
  std::string v = scalar(node, field);
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  fail(node, field, "expected true or false, got '" + v + "'");
}

void read_slurm(const ConfigNode& node, jobs::SlurmOptions& s, bool& array) {
  expect_map(node, "slurm");
  for (const auto& e : node.entries) {
    const std::string f = "slurm." + e.key;
    if (e.key == "partition")
      s.partition = scalar(e.value, f);
    else if (e.key == "time")
      s.time = scalar(e.value, f);
    else if (e.key == "account")
      s.account = scalar(e.value, f);
    else if (e.key == "job_name")
      s.job_name = scalar(e.value, f);
    else if (e.key == "nodes")
      s.nodes = int(integer(e.value, f, 1));
    else if (e.key == "tasks_per_node")
      s.tasks_per_node = int(integer(e.value, f, 1));
    else if (e.key == "gpus_per_node")
      s.gpus_per_node = int(integer(e.value, f, 0));
    else if (e.key == "cpus_per_task")
      s.cpus_per_task = int(integer(e.value, f, 0));
    else if (e.key == "master_port")
      s.master_port = int(integer(e.value, f, 1));
    else if (e.key == "extra")
      s.extra_lines = string_list(e.value, f);
    else if (e.key == "array")
      array = boolean(e.value, f);
    else
      throw Error(e.key_origin.where() + ": slurm: unknown field '" + e.key +
                  "' (known: partition, time, account, job_name, nodes, tasks_per_node, "
                  "gpus_per_node, cpus_per_task, master_port, extra, array)");
  }
}

void read_report(const ConfigNode& node, ReportOptions& r) {
  expect_map(node, "report");
  for (const auto& e : node.entries) {
    const std::string f = "report." + e.key;
    if (e.key == "title")
      r.title = scalar(e.value, f);
    else if (e.key == "group_by")
      r.group_by = string_list(e.value, f);
    else if (e.key == "metrics")
      r.metrics = string_list(e.value, f);
    else
      throw Error(e.key_origin.where() + ": report: unknown field '" + e.key +
                  "' (known: title, group_by, metrics)");
  }
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    out += ok ? c : '-';
  }
  return out;
}

}  // namespace

std::string point_name(const std::vector<std::string>& overrides) {
  std::string name;
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    std::string key = o.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : o.substr(eq + 1);
    auto dot = key.find_last_of('.');
    if (dot != std::string::npos) key = key.substr(dot + 1);
    if (!name.empty()) name += "_";
    name += sanitize(key) + "-" + sanitize(value);
  }
  if (name.empty()) name = "base";
  if (name.size() > 100) {     // keep folder names short but unique
    uint32_t h = 2166136261u;  // FNV-1a: the same name on every machine and build
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    std::ostringstream hex;
    hex << std::hex << h;
    name = name.substr(0, 90) + "-" + hex.str();
  }
  return name;
}

SweepSpec load_sweep(const std::string& path) {
  if (!fs::exists(path)) throw Error(path + ": sweep file not found");
  const fs::path abs = fs::absolute(path).lexically_normal();
  std::ifstream in(abs);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(abs.string() + ": cannot read the sweep file");
  const ConfigNode root = project::parse_yaml(text.str(), abs.string(), abs.parent_path());
  if (!root.is_map()) throw Error(abs.string() + ": expected a map (name, base, grid/points, ...)");

  SweepSpec spec;
  spec.file = abs.string();
  std::vector<RawPoint> grid = {RawPoint{}}, explicit_points;
  bool has_points = false;
  for (const auto& e : root.entries) {
    const ConfigNode& v = e.value;
    if (e.key == "name") {
      spec.name = scalar(v, "name");
      if (spec.name.empty() || sanitize(spec.name) != spec.name)
        fail(v, "name", "use letters, digits, '.', '-' and '_' only, got '" + spec.name + "'");
    } else if (e.key == "base") {
      fs::path b = scalar(v, "base");
      if (b.is_relative()) b = abs.parent_path() / b;
      spec.base = b.lexically_normal().string();
      if (!fs::exists(spec.base)) fail(v, "base", "no such file '" + spec.base + "'");
    } else if (e.key == "output") {
      fs::path o = scalar(v, "output");
      if (o.is_relative()) o = abs.parent_path() / o;
      spec.output = o.lexically_normal().string();
    } else if (e.key == "set") {
      expect_map(v, "set");
      for (const auto& s : v.entries) {
        check_key(s, "set");
        spec.set.push_back(s.key + "=" + value_text(s.value));
      }
    } else if (e.key == "grid") {
      grid = expand_grid(v);
    } else if (e.key == "points") {
      if (v.kind != ConfigNode::Kind::Sequence || v.items.empty())
        fail(v, "points", "expected a non-empty list of maps, got " + v.describe());
      has_points = true;
      for (size_t i = 0; i < v.items.size(); ++i)
        explicit_points.push_back(read_point(v.items[i], "points[" + std::to_string(i) + "]"));
    } else if (e.key == "launcher") {
      spec.launcher = scalar(v, "launcher");
      if (spec.launcher != "local" && spec.launcher != "slurm" &&
          !(spec.launcher.rfind("ssh:", 0) == 0 && spec.launcher.size() > 4))
        fail(v, "launcher", "expected local, ssh:HOST or slurm, got '" + spec.launcher + "'");
    } else if (e.key == "concurrency") {
      spec.concurrency = int(integer(v, "concurrency", 0));
    } else if (e.key == "worker") {
      spec.worker = string_list(v, "worker");
      if (spec.worker.empty()) fail(v, "worker", "the worker command is empty");
    } else if (e.key == "slurm") {
      read_slurm(v, spec.slurm, spec.slurm_array);
    } else if (e.key == "report") {
      read_report(v, spec.report);
    } else {
      throw Error(e.key_origin.where() + ": unknown field '" + e.key +
                  "' (known: name, base, output, set, grid, points, launcher, concurrency, "
                  "worker, slurm, report)");
    }
  }
  if (spec.name.empty()) throw Error(abs.string() + ": name: required");
  if (spec.base.empty()) throw Error(abs.string() + ": base: required (the base project YAML)");
  if (!has_points) explicit_points = {RawPoint{}};

  if (explicit_points.size() > kMaxPoints / grid.size())
    throw Error(abs.string() + ": points x grid: " + std::to_string(explicit_points.size()) +
                " points times " + std::to_string(grid.size()) + " grid combinations exceed " +
                std::to_string(kMaxPoints) + " runs; split the sweep");
  std::set<std::string> names;
  for (const auto& p : explicit_points) {
    for (const auto& g : grid) {
      SweepPoint sp;
      std::vector<std::string> own = p.overrides;
      own.insert(own.end(), g.overrides.begin(), g.overrides.end());
      sp.name = p.name.empty()
                    ? point_name(own)
                    : (grid.size() > 1 ? p.name + "_" + point_name(g.overrides) : p.name);
      sp.name = sanitize(sp.name);
      sp.overrides = spec.set;
      sp.overrides.insert(sp.overrides.end(), own.begin(), own.end());
      sp.worker_args = p.worker_args;
      if (!names.insert(sp.name).second)
        throw Error(abs.string() + ": points: two points are both named '" + sp.name +
                    "' (give them different values or a `name`)");
      spec.points.push_back(std::move(sp));
    }
  }
  return spec;
}

}  // namespace qatwb::sweep
