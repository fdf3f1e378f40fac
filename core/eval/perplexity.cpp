#include "core/eval/perplexity.h"

#include <cmath>

#include "core/eval/causal_lm_loss.h"
#include "core/train/autocast.h"
#include "core/util/error.h"

namespace qatwb::eval {

PerplexityResult perplexity(model::Llama& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& options) {
  const int64_t L = options.seq_len;
  if (L < 2) throw Error("perplexity: seq_len must be at least 2");
  int64_t windows = static_cast<int64_t>(ids.size()) / L;
  if (options.max_windows > 0) windows = std::min(windows, options.max_windows);
  if (windows == 0)
    throw Error("perplexity: the evaluation text has " + std::to_string(ids.size()) +
                " tokens, fewer than one window of " + std::to_string(L));
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  auto all = torch::from_blob(const_cast<int32_t*>(ids.data()), {windows, L}, torch::kInt32)
                 .to(torch::kInt64);
  double nll = 0;
  int64_t tokens = 0;
  const int64_t first = L / 2;
  for (int64_t w = 0; w < windows; w += options.batch_size) {
    const int64_t n = std::min(options.batch_size, windows - w);
    auto batch = all.narrow(0, w, n).to(device);
    train::AutocastGuard autocast(options.bf16, device);
    if (options.protocol == PerplexityProtocol::WikiText) {
      auto loss = causal_lm_loss_sum(model, batch);
      nll += loss.nll_sum.item<double>();
      tokens += loss.tokens;
      continue;
    }
    batch = batch.clone();
    if (options.bos_id >= 0) batch.select(1, 0).fill_(options.bos_id);
    auto logp = torch::log_softmax(model->forward(batch).to(torch::kFloat), -1);
    auto scored = logp.narrow(1, first, L - 1 - first);
    auto targets = batch.narrow(1, first + 1, L - 1 - first).unsqueeze(-1);
    nll -= scored.gather(-1, targets).sum().item<double>();
    tokens += n * (L - 1 - first);
  }
  if (was_training) model->train();
  PerplexityResult r;
  r.mean_nll = nll / static_cast<double>(tokens);
  r.ppl = std::exp(r.mean_nll);
  r.tokens = tokens;
  r.windows = windows;
  return r;
}

}  // namespace qatwb::eval
