#include "core/jobs/slurm_script.h"

#include <sstream>

#include "core/jobs/shell_quote.h"
#include "core/util/error.h"

namespace qatwb::jobs {

static void check_line(const std::string& value, const std::string& field) {
  if (value.find('\n') != std::string::npos || value.find('\r') != std::string::npos) {
    throw Error("slurm." + field + ": must not contain a newline");
  }
}

static void write_header(std::ostringstream& s, const SlurmOptions& opts) {
  if (opts.nodes < 1) throw Error("slurm.nodes: must be >= 1");
  if (opts.tasks_per_node < 0)
    throw Error("slurm.tasks_per_node: must be >= 0 (0: one rank per GPU)");
  if (opts.gpus_per_node < 0) throw Error("slurm.gpus: must be >= 0");
  check_line(opts.partition, "partition");
  check_line(opts.time, "time");
  check_line(opts.account, "account");
  check_line(opts.job_name, "job_name");
  s << "#!/bin/bash\n";
  if (!opts.job_name.empty()) s << "#SBATCH --job-name=" << opts.job_name << "\n";
  if (!opts.partition.empty()) s << "#SBATCH --partition=" << opts.partition << "\n";
  s << "#SBATCH --nodes=" << opts.nodes << "\n";
  s << "#SBATCH --ntasks-per-node=" << opts.ranks_per_node() << "\n";
  if (opts.gpus_per_node > 0) s << "#SBATCH --gres=gpu:" << opts.gpus_per_node << "\n";
  if (opts.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << opts.cpus_per_task << "\n";
  if (!opts.time.empty()) s << "#SBATCH --time=" << opts.time << "\n";
  if (!opts.account.empty()) s << "#SBATCH --account=" << opts.account << "\n";
  s << "#SBATCH --open-mode=append\n";
  for (const auto& line : opts.extra_lines) {
    check_line(line, "extra");
    s << "#SBATCH " << line << "\n";
  }
}

static void write_rendezvous(std::ostringstream& s, const SlurmOptions& opts) {
  s << "\n# c10d rendezvous (env://): the first node of the allocation hosts the store.\n"
    << "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\n"
    << "export MASTER_ADDR\n"
    << "export MASTER_PORT=" << opts.master_port << "\n";
}

static void write_launch(std::ostringstream& s, const std::vector<std::string>& worker,
                         const std::string& indent) {
  s << indent
    << "echo \"qatwb: slurm job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, $SLURM_NTASKS tasks,"
       " master $MASTER_ADDR:$MASTER_PORT\"\n"
    << indent << "srun --kill-on-bad-exit=1 --unbuffered bash -c "
    << shell_quote(
           "export RANK=$SLURM_PROCID WORLD_SIZE=$SLURM_NTASKS "
           "LOCAL_RANK=$SLURM_LOCALID LOCAL_WORLD_SIZE=$SLURM_NTASKS_PER_NODE; "
           "exec \"$@\"")
    << " qatwb-worker " << shell_join(worker) << "\n";
}

std::string make_sbatch_script(const SlurmOptions& opts, const std::vector<std::string>& worker) {
  if (worker.empty()) throw Error("slurm: empty worker command");
  std::ostringstream s;
  write_header(s, opts);
  write_rendezvous(s, opts);
  write_launch(s, worker, "");
  return s.str();
}

std::string make_sbatch_array_script(const SlurmOptions& opts,
                                     const std::vector<SlurmArrayTask>& tasks, int max_parallel) {
  if (tasks.empty()) throw Error("slurm: a job array needs at least one task");
  std::ostringstream s;
  write_header(s, opts);
  s << "#SBATCH --array=0-" << tasks.size() - 1;
  if (max_parallel > 0) s << "%" << max_parallel;
  s << "\n";
  write_rendezvous(s, opts);
  s << "case \"$SLURM_ARRAY_TASK_ID\" in\n";
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].worker.empty())
      throw Error("slurm: empty worker command (array task " + std::to_string(i) + ")");
    s << "  " << i << ")\n"
      << "    cd " << shell_quote(tasks[i].run_dir) << " || exit 1\n"
      << "    exec >>" << shell_quote(tasks[i].log) << " 2>&1\n";
    write_launch(s, tasks[i].worker, "    ");
    s << "    ;;\n";
  }
  s << "  *) echo \"qatwb: no array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n"
    << "esac\n";
  return s.str();
}

static std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

std::string parse_sbatch_output(const std::string& out) {
  std::string line = trim(out);
  // The last line holds the id (sbatch may print warnings before it).
  size_t nl = line.rfind('\n');
  if (nl != std::string::npos) line = line.substr(nl + 1);
  std::string id = line.substr(0, line.find(';'));
  bool digits = !id.empty();
  for (char c : id) digits = digits && ((c >= '0' && c <= '9') || c == '_');
  if (!digits) throw Error("sbatch: unexpected output '" + trim(out) + "'");
  return id;
}

static std::optional<int> parse_exit_code(const std::string& text) {
  // "code:signal"
  size_t colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  try {
    int code = std::stoi(text.substr(0, colon));
    int sig = std::stoi(text.substr(colon + 1));
    return sig != 0 ? 128 + sig : code;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<SlurmStatus> parse_squeue(const std::string& out) {
  std::string line = trim(out);
  if (line.empty()) return std::nullopt;
  line = line.substr(0, line.find('\n'));
  SlurmStatus st;
  size_t bar = line.find('|');
  st.state = line.substr(0, bar);
  if (bar != std::string::npos) st.reason = line.substr(bar + 1);
  if (st.state.empty()) return std::nullopt;
  return st;
}

std::optional<SlurmStatus> parse_scontrol(const std::string& out) {
  std::istringstream in(out);
  std::string tok;
  SlurmStatus st;
  while (in >> tok) {
    size_t eq = tok.find('=');
    if (eq == std::string::npos) continue;
    std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
    if (key == "JobState") st.state = value;
    if (key == "Reason") st.reason = value;
    if (key == "ExitCode") st.exit_code = parse_exit_code(value);
  }
  if (st.state.empty()) return std::nullopt;
  if (st.reason == "None") st.reason.clear();
  return st;
}

std::optional<SlurmStatus> parse_sacct(const std::string& out, const std::string& job_id) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '|')) f.push_back(cell);
    if (f.size() < 3 || f[0] != job_id) continue;  // step rows are "id.batch", "id.0"
    SlurmStatus st;
    std::string state = f[1];
    size_t space = state.find(' ');  // "CANCELLED by 0"
    if (space != std::string::npos) {
      st.reason = state.substr(space + 1);
      state = state.substr(0, space);
    }
    st.state = state;
    st.exit_code = parse_exit_code(f[2]);
    return st;
  }
  return std::nullopt;
}

SlurmGroup slurm_group(const std::string& state) {
  static const char* queued[] = {"PENDING",     "CONFIGURING",   "REQUEUED",    "REQUEUE_HOLD",
                                 "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"};
  static const char* running[] = {"RUNNING",   "COMPLETING", "SUSPENDED", "STOPPED",
                                  "SIGNALING", "STAGE_OUT",  "RESIZING"};
  for (const char* s : queued) {
    if (state == s) return SlurmGroup::Queued;
  }
  for (const char* s : running) {
    if (state == s) return SlurmGroup::Running;
  }
  if (state == "COMPLETED") return SlurmGroup::Completed;
  if (state == "CANCELLED") return SlurmGroup::Cancelled;
  return SlurmGroup::Failed;
}

}  // namespace qatwb::jobs
