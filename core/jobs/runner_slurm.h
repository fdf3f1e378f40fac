// A project's `runner` section as Slurm options: what `qatwb jobs submit` (and the GUI's Run) puts
// in the sbatch script when the project says `kind: slurm`. Ranks follow GPUs: without an
// explicit runner.tasks_per_node a node runs one rank per GPU.
#pragma once
#include "core/jobs/job.h"
#include "core/project/project_config.h"

namespace qatwb::jobs {

// Fills the options `opts` leaves at their defaults (empty partition/time/account, nodes 1,
// tasks_per_node 0, gpus 0) from the runner section; options set on the command line win.
void fill_slurm_options(const project::RunnerSection& runner, SlurmOptions& opts);

}  // namespace qatwb::jobs
