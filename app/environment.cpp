#include "app/environment.h"

#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/jobs/hosts_config.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace qatwb::app {
namespace {

const char* const kVariables[] = {"QATWB_DB",
                                  "QATWB_HOSTS",
                                  "HOME",
                                  "QATWB_CACHE",
                                  "QATWB_THREADS_PER_RANK",
                                  "OMP_WAIT_POLICY",
                                  "QATWB_OMP_POLICY",
                                  "RANK",
                                  "WORLD_SIZE",
                                  "LOCAL_RANK",
                                  "MASTER_ADDR",
                                  "MASTER_PORT",
                                  "QATWB_TEST_NAN_STEPS",
                                  "QATWB_TEST_STOP_AT_STEP",
                                  "QATWB_TEST_CRASH_RANK_AT"};

// "2,3" -> {2, 3}; throws naming the variable on anything but non-negative integers.
std::vector<int64_t> parse_step_list(const char* name, const std::string& text, char sep = ',') {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (item.empty()) continue;
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    if (v < 0 || used != item.size())
      throw Error(std::string(name) + "=" + text + ": expected non-negative integers");
    out.push_back(v);
  }
  return out;
}

}  // namespace

Environment::Environment(std::map<std::string, std::string> values) : values_(std::move(values)) {}

Environment Environment::read() {
  std::map<std::string, std::string> values;
  for (const char* name : kVariables)
    if (const char* v = std::getenv(name)) values[name] = v;
  return Environment(std::move(values));
}

const std::string* Environment::find(const char* name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

std::string Environment::value_or_empty(const char* name) const {
  const std::string* v = find(name);
  return v ? *v : std::string();
}

std::string Environment::db_path() const {
  return store::default_db_path(value_or_empty("QATWB_DB"));
}

std::string Environment::hosts_file() const {
  return jobs::default_hosts_path(value_or_empty("QATWB_HOSTS"), home());
}

std::string Environment::home() const { return value_or_empty("HOME"); }

std::string Environment::cache_root() const { return value_or_empty("QATWB_CACHE"); }

int Environment::threads_per_rank() const {
  const std::string t = value_or_empty("QATWB_THREADS_PER_RANK");
  if (t.empty()) return 0;
  const int n = std::atoi(t.c_str());
  if (n <= 0) throw Error("QATWB_THREADS_PER_RANK=" + t + ": expected a positive integer");
  return n;
}

std::string Environment::openmp_note() const {
  const std::string* omp = find("OMP_WAIT_POLICY");
  if (!omp) return "";
  const std::string reason = value_or_empty("QATWB_OMP_POLICY");
  return reason.empty() ? *omp : reason;
}

int Environment::non_negative(const char* name, int fallback) const {
  const std::string v = value_or_empty(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || x < 0)
    throw Error(std::string("environment variable ") + name + "='" + v +
                "' is not a non-negative integer");
  return static_cast<int>(x);
}

train::DistEnv Environment::dist() const {
  train::DistEnv e;
  e.world_size = non_negative("WORLD_SIZE", 1);
  e.rank = non_negative("RANK", 0);
  e.local_rank = non_negative("LOCAL_RANK", e.rank);
  if (const std::string a = value_or_empty("MASTER_ADDR"); !a.empty()) e.master_addr = a;
  e.master_port = non_negative("MASTER_PORT", 29500);
  if (e.world_size < 1 || e.rank >= e.world_size)
    throw Error("RANK=" + std::to_string(e.rank) +
                " is not below WORLD_SIZE=" + std::to_string(e.world_size));
  return e;
}

train::TrainerTestHooks Environment::test_hooks() const {
  train::TrainerTestHooks h;
  if (const std::string* v = find("QATWB_TEST_NAN_STEPS"))
    h.nan_steps = parse_step_list("QATWB_TEST_NAN_STEPS", *v);
  if (const std::string* v = find("QATWB_TEST_STOP_AT_STEP")) {
    const auto s = parse_step_list("QATWB_TEST_STOP_AT_STEP", *v);
    if (s.size() != 1) throw Error("QATWB_TEST_STOP_AT_STEP=" + *v + ": one step");
    h.stop_at_step = s[0];
  }
  if (const std::string* v = find("QATWB_TEST_CRASH_RANK_AT")) {
    const auto s = parse_step_list("QATWB_TEST_CRASH_RANK_AT", *v, ':');
    if (s.size() != 2) throw Error("QATWB_TEST_CRASH_RANK_AT=" + *v + ": RANK:STEP");
    h.crash_rank = s[0];
    h.crash_at_step = s[1];
  }
  return h;
}

const Environment& environment() {
  static const Environment env = Environment::read();
  return env;
}

}  // namespace qatwb::app
