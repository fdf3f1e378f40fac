#include "core/train/zero1.h"

#include <algorithm>
#include <numeric>

#include "core/util/error.h"

namespace qatwb::train {

std::vector<int> assign_owners(const std::vector<int64_t>& sizes, int world_size) {
  if (world_size < 1) throw Error("zero1: world size must be >= 1");
  std::vector<size_t> order(sizes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world_size), 0);
  std::vector<int> owner(sizes.size(), 0);
  for (size_t i : order) {
    const auto least = std::min_element(load.begin(), load.end()) - load.begin();
    owner[i] = static_cast<int>(least);
    load[static_cast<size_t>(least)] += sizes[i];
  }
  return owner;
}

std::vector<std::vector<torch::Tensor>> shard_parameters(const std::vector<torch::Tensor>& params,
                                                         int world_size) {
  std::vector<int64_t> sizes;
  for (const auto& p : params) sizes.push_back(p.numel());
  const auto owner = assign_owners(sizes, world_size);
  std::vector<std::vector<torch::Tensor>> out(static_cast<size_t>(world_size));
  for (size_t i = 0; i < params.size(); ++i)
    out[static_cast<size_t>(owner[i])].push_back(params[i]);
  return out;
}

void broadcast_from_owners(DataParallel& dp, const std::vector<std::vector<torch::Tensor>>& owned) {
  torch::NoGradGuard no_grad;
  for (size_t r = 0; r < owned.size(); ++r)
    if (!owned[r].empty()) dp.broadcast(owned[r], static_cast<int>(r));
}

}  // namespace qatwb::train
