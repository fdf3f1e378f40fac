// Per-layer metrics (grad_norm/<module>, code_flip/<module>, levels_used/..., scale_mean/...) as a
// family: the keys that share a prefix before '/', ordered by layer (numbers compared as numbers,
// so layers.2 comes before layers.10), and one run's family as a layer x step grid for a heatmap.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/store/store.h"

namespace qatwb::report {

// a < b with runs of digits compared by value ("layers.2.q" < "layers.10.q").
bool natural_less(const std::string& a, const std::string& b);

// The families among `keys`: prefixes p (not "eval") with at least two keys "p/<something>",
// sorted by name.
std::vector<std::string> metric_families(const std::vector<std::string>& keys);
// The keys of family `family` among `keys`, in natural (layer) order.
std::vector<std::string> family_members(const std::vector<std::string>& keys,
                                        const std::string& family);

struct LayerHeatmap {
  std::string family;
  std::vector<std::string> rows;  // member keys, layer order (row 0 first)
  std::vector<double> steps;      // one per column, ascending
  // values[row][column]: the member's value at that column's step (the last of its bucket);
  // NaN where the member has no point there.
  std::vector<std::vector<double>> values;
};

// The family's members of `run` bucketed to at most `max_columns` step buckets over the common
// step range. Per-layer keys are logged together, so their buckets share steps; the columns are
// the step of each bucket of the first member, and another member's bucket fills the column with
// the same step.
LayerHeatmap layer_heatmap(const store::Store& store, int64_t run, const std::string& family,
                           int max_columns = 200);

}  // namespace qatwb::report
