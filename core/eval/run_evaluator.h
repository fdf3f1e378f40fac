// The evaluations a QAT run reports: full precision, round-to-nearest (real quantize-dequantize of
// the weights as they are, no training), the fake-quant model's held-out loss, and the
// post-quantization perplexity. All on the same held-out windows.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/eval/perplexity.h"
#include "core/model/llama.h"

namespace qatwb::quant {
class ModelQuantizer;
}

namespace qatwb::eval {

class RunEvaluator {
 public:
  RunEvaluator(std::vector<int32_t> heldout_ids, PerplexityOptions options)
      : ids_(std::move(heldout_ids)), options_(options) {}

  // Perplexity of the model with no quantization hook: "ppl_fp".
  double full_precision_ppl(model::Llama& model);
  // Values reported while training: "heldout_loss" and "ppl_fakequant" (the model as trained,
  // fake quantization active), and "ppl_postquant" (real quantize-dequantize of every quantized
  // weight). Without a quantizer only the first two, for the plain model.
  std::map<std::string, double> evaluate(model::Llama& model, quant::ModelQuantizer* quantizer,
                                         bool post_quant);
  // Real quantize-dequantize perplexity with the quantizer's current scales ("ppl_rtn" at step 0).
  double post_quant_ppl(model::Llama& model, quant::ModelQuantizer& quantizer);

  const PerplexityOptions& options() const { return options_; }
  int64_t token_count() const { return static_cast<int64_t>(ids_.size()); }

 private:
  std::vector<int32_t> ids_;
  PerplexityOptions options_;
};

}  // namespace qatwb::eval
