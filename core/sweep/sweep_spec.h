// A sweep file: one base project and the points to run from it (`qatwb batch SWEEP.yaml`).
//
//   name: tiny-brown-surrogates           # required: the sweep's name (also the runs' project)
//   base: ../tiny-brown/w2-ste.yaml       # required: the base project, relative to this file
//   output: ../../runs/sweeps/x           # default: <database folder>/sweeps/<name>
//   set: {train.steps: 50}                # overrides applied to every point
//   grid:                                 # every combination, in key order (first key slowest)
//     quant.surrogate: [ste, stableqat, dsq]
//     quant.bits: [2, 3, 4]
//     train.seed: [0, 1]
//   points:                               # explicit points (each a map of overrides); with a
//     - {quant.surrogate: ste, train.lr: 1e-4}      # grid too, every point x every combination
//     - {quant.surrogate: dsq, name: dsq-slow, worker_args: [--threads, "1"]}
//   launcher: local                       # local | ssh:HOST | slurm
//   concurrency: 2                        # points in flight at once (0: no limit)
//   worker: [qatwb, run]                  # worker command prefix (default: qatwb run)
//   slurm: {partition: gpu, time: "04:00:00", gpus_per_node: 1, cpus_per_task: 8,
//           account: x, nodes: 1, tasks_per_node: 1, extra: ["--mem=64G"],
//           array: true}                # one Slurm job array for all new points (at most
//                                       # `concurrency` tasks at once); else one job per point
//   report: {group_by: [quant.bits], title: "...", metrics: [loss, grad_norm]}
//
// Override keys are any project field ("a.b", "data.sources[0].weight"); values are YAML. In a
// point, `name` (the point's name) and `worker_args` (extra worker arguments, appended to the
// worker prefix) are reserved. A point's name defaults to its overrides, e.g.
// "surrogate-ste_bits-2_seed-0" (the last part of each key, characters outside [A-Za-z0-9._-]
// replaced). Every mistake is reported as file:line:col: field: message.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/jobs/job.h"

namespace qatwb::sweep {

struct SweepPoint {
  std::string name;
  std::vector<std::string> overrides;  // "key=value", the sweep's `set` first
  std::vector<std::string> worker_args;
};

struct ReportOptions {
  std::string title;
  std::vector<std::string> group_by;  // project fields ("quant.bits"); plots per group
  std::vector<std::string> metrics = {"loss", "grad_norm", "eval/ppl_postquant"};
};

struct SweepSpec {
  std::string file;  // the sweep file (absolute)
  std::string name;
  std::string base;    // base project (absolute)
  std::string output;  // "" : default (decided by the runner)
  std::vector<std::string> set;
  std::vector<SweepPoint> points;  // expanded, in order
  std::string launcher = "local";
  int concurrency = -1;  // -1: default (local 1, else no limit)
  std::vector<std::string> worker;
  jobs::SlurmOptions slurm;
  bool slurm_array = false;
  ReportOptions report;
};

// Reads and expands a sweep file. Throws qatwb::Error naming file:line:col and the field.
SweepSpec load_sweep(const std::string& path);

// The default name of a point from its own overrides ("quant.bits=2" -> "bits-2").
std::string point_name(const std::vector<std::string>& overrides);

}  // namespace qatwb::sweep
