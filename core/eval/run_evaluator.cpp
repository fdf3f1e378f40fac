#include "core/eval/run_evaluator.h"

#include "core/eval/replaced_weights.h"
#include "core/quant/model_quantizer.h"

namespace qatwb::eval {
namespace {

// Installs a hook for the lifetime of the guard and restores the previous one.
class HookSwap {
 public:
  HookSwap(model::Llama& model, std::shared_ptr<model::WeightHook> hook,
           std::shared_ptr<model::WeightHook> restore)
      : model_(model), restore_(std::move(restore)) {
    model_->set_weight_hook(std::move(hook));
  }
  ~HookSwap() { model_->set_weight_hook(restore_); }

 private:
  model::Llama& model_;
  std::shared_ptr<model::WeightHook> restore_;
};

}  // namespace

double RunEvaluator::full_precision_ppl(model::Llama& model) {
  auto current = model->weight_hook();
  HookSwap swap(model, nullptr, current);
  return perplexity(model, ids_, options_).ppl;
}

double RunEvaluator::post_quant_ppl(model::Llama& model, quant::ModelQuantizer& quantizer) {
  auto current = model->weight_hook();
  HookSwap swap(model, std::make_shared<ReplacedWeights>(quantizer.dequantized_weights()), current);
  return perplexity(model, ids_, options_).ppl;
}

std::map<std::string, double> RunEvaluator::evaluate(model::Llama& model,
                                                     quant::ModelQuantizer* quantizer,
                                                     bool post_quant) {
  std::map<std::string, double> out;
  const auto fq = perplexity(model, ids_, options_);
  out["heldout_loss"] = fq.mean_nll;
  out[quantizer ? "ppl_fakequant" : "ppl"] = fq.ppl;
  if (quantizer && post_quant) out["ppl_postquant"] = post_quant_ppl(model, *quantizer);
  return out;
}

}  // namespace qatwb::eval
