#include "core/quant/grid.h"

#include <cmath>
#include <sstream>

#include "core/util/error.h"

namespace qatwb::quant {

double WeightGrid::level(int code, double zero) const {
  switch (kind) {
    case GridKind::Int:
      return symmetric ? static_cast<double>(code) : static_cast<double>(code) - zero;
    case GridKind::Stretched:
      return (static_cast<double>(code) + h) / n;
    case GridKind::Binary:
      return code < 0 ? -1.0 : 1.0;
  }
  return 0.0;
}

int WeightGrid::levels_total() const {
  if (kind == GridKind::Binary) return 2;
  return cmax - cmin + 1;
}

WeightGrid make_weight_grid(const QuantScheme& scheme, const std::string& where) {
  if (scheme.format != Format::Int)
    throw Error(where + ": the integer grid does not apply to format " + to_string(scheme.format));
  WeightGrid g;
  g.bits = scheme.bits;
  g.symmetric = scheme.symmetric;
  const bool seq2 = scheme.bits == 2 && scheme.surrogate == Surrogate::ParetoQ;
  const bool special = scheme.bits == 1 || scheme.ternary() || seq2;
  if (special && !scheme.symmetric)
    throw Error(where + ": asymmetric quantization needs an integer grid of 2..8 bits, got bits " +
                std::to_string(scheme.bits) +
                (seq2 ? " with the ParetoQ SEQ grid" : std::string()));
  if (scheme.bits == 1) {
    g.kind = GridKind::Binary;
    g.cmin = -1;
    g.cmax = 1;
    g.qp_gamma = 1;
    return g;
  }
  if (scheme.ternary() || seq2) {
    g.kind = GridKind::Stretched;
    g.n = scheme.ternary() ? 1.5 : 2.0;
    g.h = scheme.ternary() ? 0.0 : 0.5;
    g.cmin = scheme.ternary() ? -1 : -2;
    g.cmax = 1;
    g.seq_out = (g.n - g.h) / g.n;
    g.qp_gamma = 1;
    return g;
  }
  const double b = scheme.bits;
  if (b != std::floor(b) || b < 2 || b > 8) {
    std::ostringstream os;
    os << where << ": bits " << b << " is not supported (1, 1.58, 2..8)";
    throw Error(os.str());
  }
  const int bi = static_cast<int>(b);
  g.kind = GridKind::Int;
  if (scheme.symmetric) {
    g.cmin = -(1 << (bi - 1));
    g.cmax = (1 << (bi - 1)) - 1;
  } else {
    g.cmin = 0;
    g.cmax = (1 << bi) - 1;
  }
  g.qp_gamma = std::max(1, g.cmax);
  return g;
}

BlockLayout make_block_layout(Granularity gran, int64_t group_size,
                              const std::vector<int64_t>& shape, const std::string& module) {
  BlockLayout l;
  l.shape = shape;
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  auto shape_str = [&] {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << "]";
    return os.str();
  };
  if (numel == 0) throw Error(module + ": cannot quantize an empty weight " + shape_str());
  if (gran == Granularity::PerTensor) {
    l.scale_shape = {1};
    if (shape.size() == 2) {
      l.rows = shape[0];
      l.cols = shape[1];
      l.rows_per_scale = shape[0];
    } else {
      l.rows = 1;
      l.cols = numel;
      l.rows_per_scale = 1;
    }
    return l;
  }
  if (shape.size() != 2)
    throw Error(module + ": " + to_string(gran) + " quantization needs a 2-D weight, got " +
                shape_str());
  const int64_t out = shape[0], in = shape[1];
  if (gran == Granularity::PerChannel) {
    l.rows = out;
    l.cols = in;
    l.scale_shape = {out, 1};
    return l;
  }
  if (group_size <= 0 || in % group_size != 0)
    throw Error(module + ": group size " + std::to_string(group_size) +
                " does not divide the row length " + std::to_string(in) + " (weight " +
                shape_str() + ")");
  l.rows = out * (in / group_size);
  l.cols = group_size;
  l.scale_shape = {out, in / group_size};
  return l;
}

}  // namespace qatwb::quant
