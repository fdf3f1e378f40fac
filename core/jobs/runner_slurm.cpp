#include "core/jobs/runner_slurm.h"

namespace qatwb::jobs {

void fill_slurm_options(const project::RunnerSection& r, SlurmOptions& opts) {
  if (opts.partition.empty()) opts.partition = r.partition;
  if (opts.gpus_per_node == 0) opts.gpus_per_node = r.gpus;
  if (opts.time.empty()) opts.time = r.time_limit;
  if (opts.nodes == 1) opts.nodes = r.nodes;
  if (opts.tasks_per_node == 0) opts.tasks_per_node = r.tasks_per_node;  // 0: one per GPU
  if (opts.account.empty()) opts.account = r.account;
}

}  // namespace qatwb::jobs
