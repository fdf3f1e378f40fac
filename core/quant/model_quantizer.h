// Fake quantization of a whole model through the Linear weight hook: selects the modules of a
// scheme (include/exclude regexes), owns their WeightQuantizer / ActivationQuantizer, and makes
// gradient accumulation cheap: between begin_step() and end_step() each module's fake-quant
// forward runs once (the Linears see a cached detached leaf) and its backward runs once, from
// the leaf's accumulated gradient, in end_step().
#pragma once
#include <torch/torch.h>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/weight_hook.h"
#include "core/quant/activation_quant.h"
#include "core/quant/weight_quantizer.h"

namespace qatwb::quant {

struct ModuleQuantStats {
  int64_t numel = 0;
  double code_flip_fraction = 0;  // codes changed since the previous stats / flip call
  int levels_used = 0;            // distinct grid levels occurring in the codes
  int levels_total = 0;           // levels the grid offers
  // Distinct levels per row of the blocked layout (a weight row; a group for per-group scales
  // and FP4 blocks): the fewest any row uses and the median over rows.
  int levels_used_row_min = 0;
  double levels_used_row_median = 0;
  double scale_mean = 0, scale_min = 0, scale_max = 0;  // effective scales (FP4: divisors)
};

struct QuantStats {
  std::map<std::string, ModuleQuantStats> modules;
  double code_flip_fraction = 0;    // numel-weighted over all modules
  double levels_used_fraction = 0;  // mean over modules of levels_used / levels_total
  // Over every row of every module: the fewest levels a row uses, and the median row.
  int levels_used_row_min = 0;
  double levels_used_row_median = 0;
  double scale_mean = 0, scale_min = 0, scale_max = 0;
  // AdaRound: weights with learned rounding, and the fraction of them still soft (h(V) strictly
  // between 0 and 1; their exported rounding may differ from the trained forward).
  int64_t learned_rounding_weights = 0;
  double soft_rounding_fraction = 0;
};

class ModelQuantizer : public qatwb::model::WeightHook {
 public:
  // linear_weights: (HF module name, latent weight) of every Linear, e.g.
  // ("model.layers.3.self_attn.q_proj", W). Modules matching any `include` regex and no
  // `exclude` regex (std::regex ECMAScript, searched; an empty include list selects all) are
  // quantized, with scales initialised from the current weights. Throws qatwb::Error naming
  // the module or pattern on bad input.
  ModelQuantizer(const QuantScheme& scheme,
                 std::vector<std::pair<std::string, torch::Tensor>> linear_weights);

  torch::Tensor weight(const std::string& module, const torch::Tensor& w) override;
  torch::Tensor input(const std::string& module, const torch::Tensor& x) override;

  const std::vector<std::string>& modules() const { return order_; }
  bool quantizes(const std::string& module) const { return entries_.count(module) > 0; }
  const WeightQuantizer& quantizer(const std::string& module) const;

  // Rounding of every module's INT codes (EASGD's per-worker rounding); nearest by default.
  void set_rounding(Rounding r);
  Rounding rounding() const { return rounding_; }

  // Learned scales, DSQ alphas and PACT alphas (for their own optimizer group).
  std::vector<torch::Tensor> parameters() const;
  // Sum of PACT's L2 penalties on alpha and, once AdaRound's warm-up is over, its rounding
  // regulariser: reg_weight * (sum over every learned-rounding weight of 1 - |2h(V) - 1|^beta)
  // / their count, with beta annealed (adaround.h). 0-dim; zero when there is none.
  torch::Tensor regularization_loss() const;

  // Where training stands, before each optimizer step (0-based) of `total_steps`: applies
  // quant.schedule (the bits, StableQAT amplitude and EWGS delta in force) and AdaRound's
  // annealing. A change of bits re-initialises the affected modules' scales, zero points and
  // AdaRound V from the current weights when `reinit` (a resumed run passes false: it loads
  // them); returns true when that happened, so the caller resets their optimizer state.
  bool set_step(int64_t step, int64_t total_steps, bool reinit = true);
  // Bits of the modules quant.schedule drives, now (the scheme's bits when there is no schedule).
  double scheduled_bits() const { return scheduled_bits_; }
  // Clamp learned parameters into range (s >= 1e-5, DSQ alpha in [1e-3, 0.499], PACT alpha > 0).
  void project_parameters();

  // One optimizer step = begin_step(), several forward/backward micro-batches, end_step() (before
  // the optimizer's step). weight() then returns a cached fake-quantized leaf that requires
  // grad; end_step() backpropagates the leaves' accumulated gradients through the fake-quant
  // graphs into the latent weights and quantizer parameters, once. Outside a step, or under
  // NoGradGuard, weight() fake-quantizes directly with autograd.
  void begin_step();
  void end_step();
  bool in_step() const { return in_step_; }

  // Real quantization of every module with its current scales, and the dequantized weights
  // (bit-identical to the fake-quant forward), keyed by module name.
  std::map<std::string, QuantizedTensor> quantize_all() const;
  std::map<std::string, torch::Tensor> dequantized_weights() const;

  // Fraction of codes changed since the previous call for this module (or since construction).
  double code_flip_fraction(const std::string& module);
  // All modules at once (numel-weighted), updating every module's baseline.
  double code_flip_fraction();
  // Flips (updating the baselines), levels used and scale statistics for every module.
  QuantStats stats();

  // Learned / frozen quantizer state for checkpoints: "<module>.weight_scale",
  // "<module>.weight_zero_point", "<module>.dsq_alpha", "<module>.input_alpha".
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores every tensor of state(); throws qatwb::Error on unknown, missing or misshapen ones.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  struct Entry {
    std::unique_ptr<WeightQuantizer> wq;
    std::unique_ptr<ActivationQuantizer> aq;
    torch::Tensor latent;       // the model's weight parameter
    torch::Tensor prev_codes;   // baseline for code flips
    torch::Tensor cache_out;    // fake-quant output with its graph (in a step)
    torch::Tensor cache_leaf;   // detached leaf handed to the Linear (in a step)
    bool follows_bits = false;  // INT at the scheme's bits: quant.schedule's bits apply
    Surrogate surrogate = Surrogate::Ste;
  };
  Entry& entry(const std::string& module);
  const Entry& entry(const std::string& module) const;
  static torch::Tensor comparable_codes(const Entry& e, const QuantizedTensor& q);
  void clear_cache();

  QuantScheme scheme_;
  std::vector<std::string> order_;
  std::map<std::string, Entry> entries_;
  bool in_step_ = false;
  Rounding rounding_ = Rounding::Nearest;
  torch::Device device_ = torch::kCPU;
  double scheduled_bits_ = 0;
  double adaround_beta_ = 0;  // 0: AdaRound's regulariser off (warm-up, or no AdaRound)
  double adaround_weight_ = 0;
  int64_t learned_rounding_weights_ = 0;
};

}  // namespace qatwb::quant
