#include "core/train/easgd.h"

#include <cmath>

#include "core/util/error.h"

namespace qatwb::train {

ElasticAveraging::ElasticAveraging(const project::EasgdSection& config, DataParallel* dp,
                                   std::vector<torch::Tensor> params)
    : config_(config), dp_(dp), params_(std::move(params)) {
  if (dp_) {
    workers_ = dp_->env().world_size;
    worker_ = dp_->env().rank;
  }
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) centre_.push_back(p.detach().clone());
}

bool ElasticAveraging::trains_at(int64_t step) const {
  if (config_.mode == project::EasgdSection::Mode::Symmetric) return true;
  return (step / config_.stickiness) % workers_ == worker_;
}

bool ElasticAveraging::update_due(int64_t steps_done) const {
  const int64_t period = config_.mode == project::EasgdSection::Mode::Symmetric
                             ? config_.tau
                             : config_.stickiness * workers_;
  return steps_done > 0 && steps_done % period == 0;
}

std::vector<double> ElasticAveraging::update() {
  torch::NoGradGuard no_grad;
  return config_.mode == project::EasgdSection::Mode::Symmetric ? update_symmetric()
                                                                : update_sequential();
}

std::vector<double> ElasticAveraging::update_symmetric() {
  std::vector<torch::Tensor> diffs;
  diffs.reserve(params_.size());
  double sq = 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    diffs.push_back(params_[k].detach() - centre_[k]);
    sq += diffs.back().to(torch::kDouble).pow(2).sum().item<double>();
  }
  auto norms = torch::zeros({workers_}, torch::kDouble);
  norms[worker_] = sq;
  // x_i moves with its own difference; the centre with the sum of all of them.
  for (size_t k = 0; k < params_.size(); ++k) params_[k].sub_(diffs[k], config_.alpha);
  if (dp_) {
    dp_->all_sum(diffs);
    norms = dp_->sum(norms);
  }
  const double rate = config_.beta / workers_;
  for (size_t k = 0; k < params_.size(); ++k) centre_[k].add_(diffs[k], rate);
  std::vector<double> out(workers_);
  for (int i = 0; i < workers_; ++i) out[i] = std::sqrt(norms[i].item<double>());
  return out;
}

std::vector<double> ElasticAveraging::update_sequential() {
  std::vector<double> out(workers_);
  for (int i = 0; i < workers_; ++i) {
    std::vector<torch::Tensor> xi;
    xi.reserve(params_.size());
    for (const auto& p : params_)
      xi.push_back(i == worker_ ? p.detach().clone() : torch::empty_like(p));
    if (dp_) dp_->broadcast(xi, i);
    double sq = 0;
    for (size_t k = 0; k < params_.size(); ++k) {
      auto d = xi[k] - centre_[k];
      sq += d.to(torch::kDouble).pow(2).sum().item<double>();
      if (i == worker_) params_[k].sub_(d, config_.alpha);
      centre_[k].add_(d, config_.beta_of(i));
    }
    out[i] = std::sqrt(sq);
  }
  return out;
}

void ElasticAveraging::set_centre(const std::vector<torch::Tensor>& centre) {
  if (centre.size() != params_.size())
    throw Error("EASGD centre has " + std::to_string(centre.size()) + " tensors, the model " +
                std::to_string(params_.size()));
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (centre[k].sizes() != params_[k].sizes())
      throw Error("EASGD centre tensor " + std::to_string(k) + " has the wrong shape");
    centre_[k].copy_(centre[k]);
  }
}

ElasticAveraging::CentreSwap::CentreSwap(ElasticAveraging& e) : e_(e) {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < e_.params_.size(); ++k) {
    saved_.push_back(e_.params_[k].detach().clone());
    e_.params_[k].copy_(e_.centre_[k]);
  }
}

ElasticAveraging::CentreSwap::~CentreSwap() {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < saved_.size(); ++k) e_.params_[k].copy_(saved_[k]);
}

void ElasticAveraging::adopt_centre() {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) params_[k].copy_(centre_[k]);
}

}  // namespace qatwb::train
