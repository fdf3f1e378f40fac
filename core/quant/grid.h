// Integer-style weight grids (signed INT, asymmetric INT, ParetoQ SEQ, binary) and the block
// layout that maps a weight onto rows sharing one scale. docs/QAT_METHODS.md, "Notation".
#pragma once
#include <string>
#include <vector>

#include "core/quant/scheme.h"

namespace qatwb::quant {

enum class GridKind {
  Int,        // codes cmin..cmax (signed symmetric, or 0..2^b-1 with a zero point)
  Stretched,  // ParetoQ SEQ: u = n*clamp(v, -0.99, 0.99) - h, value (round(u) + h)/n
  Binary      // 1-bit: value sign(w)*s, codes -1/+1 (w = 0 maps to +1; 1-bit has no zero)
};

// What one weight grid looks like in units of the scale s (v = w/s).
struct WeightGrid {
  GridKind kind = GridKind::Int;
  double bits = 4;
  bool symmetric = true;
  int cmin = -8;        // smallest code
  int cmax = 7;         // largest code
  double n = 1, h = 0;  // Stretched only
  double seq_out = 0;   // Stretched: scale-gradient d outside the range is -/+ (n - h)/n
  double qp_gamma = 7;  // max(Qp, 1) of LSQ's gamma = 1/sqrt(numel * max(Qp, 1))

  // Value of `code` in units of s (asymmetric grids subtract the zero point z).
  double level(int code, double zero = 0) const;
  // Number of distinct values the grid can represent.
  int levels_total() const;
  // Largest magnitude reachable on the negative side (|Qn|), used by the Auto init at 2 bits.
  double qn_abs() const { return kind == GridKind::Int ? -static_cast<double>(cmin) : 1.0; }
  // Width of the grid's range in units of s, (cmax - cmin)/n: 2^b - 1 on INT grids, 1.5 for the
  // 2-bit SEQ levels +-0.25, +-0.75, 4/3 for ternary, 2 for 1-bit. EWGS normalises by it.
  double span() const { return (cmax - cmin) / n; }
};

// The grid a scheme selects: bits 1 -> Binary, 1.58 -> ternary SEQ, 2 with surrogate ParetoQ ->
// 2-bit SEQ, 2..8 -> Int (asymmetric when !symmetric). Throws qatwb::Error naming `where`.
WeightGrid make_weight_grid(const QuantScheme& scheme, const std::string& where = "quant");

// How a weight of shape `shape` is viewed as [rows, cols] so that every `rows_per_scale`
// consecutive rows share one scale: per-tensor (2-D: [out, in], rows_per_scale = out),
// per-channel ([out, in], 1), per-group / FP4 blocks ([out*in/g, g], 1).
struct BlockLayout {
  std::vector<int64_t> shape;        // the weight's shape
  std::vector<int64_t> scale_shape;  // per-tensor {1}; per-channel {out, 1}; groups {out, in/g}
  int64_t rows = 1, cols = 1, rows_per_scale = 1;
  int64_t num_scales() const { return rows / rows_per_scale; }
  int64_t group_size() const { return cols; }  // elements along the input dim per row
};

// Throws qatwb::Error naming `module`, the row length and the group size when the group size
// does not divide the row, or when a per-channel/group layout gets a weight that is not 2-D.
BlockLayout make_block_layout(Granularity g, int64_t group_size, const std::vector<int64_t>& shape,
                              const std::string& module);

}  // namespace qatwb::quant
