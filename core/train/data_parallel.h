// Multi-process data parallelism over torch's c10d: a TCPStore rendezvous and a Gloo process
// group (NCCL where the LibTorch build has it and the device is CUDA). Each rank reads a disjoint
// part of the data (core/data TokenLoader rank split); gradients are averaged in buckets after
// each accumulation step; rank 0 writes events and checkpoints.
// Where this process stands: DistEnv (core/train/dist_env.h), filled by the program's edge.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/train/dist_env.h"

namespace qatwb::train {

class DataParallel {
 public:
  // Joins the process group (blocks until every rank has arrived).
  explicit DataParallel(const DistEnv& env);
  ~DataParallel();

  const DistEnv& env() const { return env_; }
  // Averages the tensors across ranks in place, coalesced into buckets of about bucket_bytes.
  void average(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Sums the tensors across ranks in place (same buckets as average()).
  void all_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Sum across ranks of small per-step values (loss sums, flags).
  torch::Tensor sum(const torch::Tensor& values);
  // Copies rank 0's tensors to every rank.
  void broadcast_from_main(const std::vector<torch::Tensor>& tensors);
  // Copies rank `root`'s tensors to every rank (same shapes on every rank).
  void broadcast(const std::vector<torch::Tensor>& tensors, int root);
  void barrier();

 private:
  void reduce_buckets(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes,
                      double divisor);
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

// `qatwb run --nproc N`: starts N copies of this process (argv without --nproc) as ranks
// 0..N-1 on this machine with the c10d environment, forwards SIGINT/SIGTERM to them and waits.
// `threads_per_rank` (> 0: the caller's $QATWB_THREADS_PER_RANK, handed down unchanged; else
// cores / nproc) goes to each rank as QATWB_THREADS_PER_RANK. Returns rank 0's exit code, or the
// first non-zero one.
int launch_local_ranks(int nproc, const std::vector<std::string>& argv, int threads_per_rank);

}  // namespace qatwb::train
