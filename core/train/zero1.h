// ZeRO-1 (Rajbhandari et al. 2020, stage 1): with data parallel, the optimizer states are split
// across ranks. Every rank still holds the whole model and the averaged gradients (so clipping
// sees the global norm), but steps only the parameters it owns and then sends them to the
// others. AdamW's two moments per parameter shrink by the number of ranks.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/train/data_parallel.h"

namespace qatwb::train {

// Which rank owns each of `sizes` (parameter element counts): greedily, largest first (ties by
// position), to the rank with the fewest elements so far (ties to the lowest rank). The same on
// every rank, since every rank holds the same parameters in the same order.
std::vector<int> assign_owners(const std::vector<int64_t>& sizes, int world_size);

// The parameters of `params` each rank owns, by rank.
std::vector<std::vector<torch::Tensor>> shard_parameters(const std::vector<torch::Tensor>& params,
                                                         int world_size);

// After the owners stepped: every rank receives every parameter from its owner.
void broadcast_from_owners(DataParallel& dp, const std::vector<std::vector<torch::Tensor>>& owned);

}  // namespace qatwb::train
