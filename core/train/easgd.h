// Elastic averaging SGD across data-parallel ranks (Zhang et al. 2015; SupportiveQAT's
// sequential variant). Every rank is one worker training its own replica x_i (the trainer does
// not average gradients); every rank also holds an identical copy of the centre c, initialised
// from the (rank-0-broadcast) starting parameters. Elastic updates (project_config.h,
// EasgdSection):
//   symmetric:  d_i = x_i - c;  x_i -= alpha d_i;  c += (beta / p) sum_i d_i   (one all-reduce)
//   sequential: for i = 0 .. p-1 in turn: d_i = x_i - c;  x_i -= alpha d_i;  c += beta_i d_i
//               (x_i broadcast from rank i; c is updated between workers)
// Every rank computes the centre with the same operations on the same all-reduced or broadcast
// values, so the copies stay bit-identical without ever being sent. The centre is what is
// evaluated, checkpointed as the run's model and exported.
#pragma once
#include <torch/torch.h>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/project/project_config.h"
#include "core/train/data_parallel.h"

namespace qatwb::train {

class ElasticAveraging {
 public:
  // `params`: this worker's trained tensors (model weights and quantizer parameters), the same
  // list in the same order on every rank. `dp` may be null (a single worker, p = 1).
  ElasticAveraging(const project::EasgdSection& config, DataParallel* dp,
                   std::vector<torch::Tensor> params);

  int workers() const { return workers_; }
  int worker() const { return worker_; }

  // Whether this worker takes an optimizer step at `step` (sequential mode: only the worker
  // whose turn it is; symmetric: always).
  bool trains_at(int64_t step) const;
  // Whether an elastic update follows once `steps_done` optimizer steps are done.
  bool update_due(int64_t steps_done) const;
  // One elastic update (a collective: every rank calls it at the same step). Returns
  // ||x_i - c|| of every worker before the update (the same vector on every rank).
  std::vector<double> update();

  const std::vector<torch::Tensor>& params() const { return params_; }
  const std::vector<torch::Tensor>& centre() const { return centre_; }
  // Replaces the centre (resume; tests). Shapes must match params().
  void set_centre(const std::vector<torch::Tensor>& centre);

  // While alive, the parameters hold the centre (for evaluation); the worker's own values are
  // put back on destruction.
  class CentreSwap {
   public:
    explicit CentreSwap(ElasticAveraging& e);
    ~CentreSwap();
    CentreSwap(const CentreSwap&) = delete;
    CentreSwap& operator=(const CentreSwap&) = delete;

   private:
    ElasticAveraging& e_;
    std::vector<torch::Tensor> saved_;
  };
  // Copies the centre into the parameters for good (the end of a run).
  void adopt_centre();

 private:
  std::vector<double> update_symmetric();
  std::vector<double> update_sequential();

  project::EasgdSection config_;
  DataParallel* dp_;
  int workers_ = 1;
  int worker_ = 0;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> centre_;
};

}  // namespace qatwb::train
