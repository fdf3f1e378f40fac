// Multi-process data parallelism over torch's c10d: a TCPStore rendezvous and a Gloo process
// group (NCCL where the LibTorch build has it and the device is CUDA). Each rank reads a disjoint
// part of the data (core/data TokenLoader rank split); gradients are averaged in buckets after
// each accumulation step; rank 0 writes events and checkpoints.
// Environment (as torchrun and srun set it): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace qatwb::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool enabled() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
  // Reads the variables above; throws qatwb::Error naming a malformed one.
  static DistEnv from_environment();
};

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
// Returns rank 0's exit code, or the first non-zero one.
int launch_local_ranks(int nproc, const std::vector<std::string>& argv);

}  // namespace qatwb::train
