#include "core/model/llama.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/util/error.h"

namespace qatwb::model {

namespace {

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

LlamaImpl::LlamaImpl(const LlamaConfig& config, bool initialize, torch::TensorOptions options)
    : config_(config) {
  config_.validate("LlamaConfig");
  if (!options.has_dtype()) options = options.dtype(torch::kFloat32);
  const auto& c = config_;
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  auto embed = model->register_module("embed_tokens", std::make_shared<torch::nn::Module>());
  embed_weight_ =
      embed->register_parameter("weight", torch::empty({c.vocab_size, c.hidden_size}, options));
  auto layers = model->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers_.push_back(DecoderLayer(c, i, options));
    layers->push_back(layers_.back());
  }
  norm_ = model->register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  if (!c.tie_word_embeddings) {
    auto head = register_module("lm_head", std::make_shared<torch::nn::Module>());
    lm_head_weight_ =
        head->register_parameter("weight", torch::empty({c.vocab_size, c.hidden_size}, options));
  }
  const auto inv = rope_inv_freq(c);
  inv_freq_ = torch::tensor(inv, torch::kFloat64).to(torch::kFloat32);
  if (initialize) init_weights(0);
}

void LlamaImpl::init_weights(int64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  const double std = config_.initializer_range;
  for (auto& [name, p] : hf_state_dict()) {
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) {
      p.fill_(1.0);
    } else {
      auto w = torch::empty(p.sizes(), torch::kFloat32);
      w.normal_(0.0, std, gen);
      p.copy_(w);
    }
  }
}

void LlamaImpl::set_weight_hook(std::shared_ptr<WeightHook> hook) { hook_ = std::move(hook); }

torch::Tensor LlamaImpl::lm_head_weight() const {
  const bool tied = config_.tie_word_embeddings;
  const torch::Tensor& w = tied ? embed_weight_ : lm_head_weight_;
  return hook_ ? hook_->weight(tied ? kEmbedModule : kLmHeadModule, w) : w;
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaImpl::linear_weights() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& layer : layers_)
    for (auto lin : layer->linears()) out.emplace_back(lin->name(), lin->weight());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaImpl::quantizable_weights() const {
  auto out = linear_weights();
  out.emplace_back(kEmbedModule, embed_weight_);
  if (!config_.tie_word_embeddings) out.emplace_back(kLmHeadModule, lm_head_weight_);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaImpl::hf_state_dict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(/*recurse=*/true))
    out.emplace_back(item.key(), item.value());
  return out;
}

torch::Tensor LlamaImpl::run_layers(torch::Tensor x) {
  const int64_t T = x.size(1);
  const RopeTables rope = rope_tables(inv_freq_, T, x.device(), x.scalar_type());
  WeightHook* hook = hook_.get();
  const bool checkpoint = checkpointing_ && torch::GradMode::is_enabled();
  for (auto& layer : layers_) {
    if (!checkpoint) {
      x = layer->forward(x, rope, hook);
      continue;
    }
    // The hooked weights are computed here, with grad, so they are inputs of the checkpointed
    // graph node and their gradients flow back into the latent weights and quantizer parameters.
    LayerTensors t;
    t.input_norm = layer->input_layernorm->weight();
    t.post_attention_norm = layer->post_attention_layernorm->weight();
    auto lins = layer->linears();
    for (size_t i = 0; i < lins.size(); ++i)
      t.linear[i] = hook ? hook->weight(lins[i]->name(), lins[i]->weight()) : lins[i]->weight();
    x = checkpointed_layer(layer.ptr(), x, rope, hook_, t);
  }
  return x;
}

torch::Tensor LlamaImpl::hidden_states(const torch::Tensor& input_ids) {
  if (input_ids.dim() != 2)
    throw Error("Llama: input_ids must be [batch, seq_len], got shape " + shape_of(input_ids));
  if (input_ids.size(1) == 0 || input_ids.size(0) == 0)
    throw Error("Llama: input_ids is empty, shape " + shape_of(input_ids));
  if (input_ids.is_floating_point() || input_ids.is_complex())
    throw Error("Llama: input_ids must hold integer token ids");
  if (config_.sliding_window > 0 && input_ids.size(1) > config_.sliding_window)
    throw Error("Llama: " + std::to_string(input_ids.size(1)) +
                " tokens exceed the model's sliding_window of " +
                std::to_string(config_.sliding_window) +
                " (full causal attention equals sliding-window attention only up to it); use a "
                "seq_len of at most " +
                std::to_string(config_.sliding_window));
  const auto ids = input_ids.to(torch::kInt64);
  {
    const auto bad = torch::logical_or(ids.min() < 0, ids.max() >= config_.vocab_size);
    if (bad.item<bool>())
      throw Error("Llama: token id out of range [0, " + std::to_string(config_.vocab_size) +
                  ") (min " + std::to_string(ids.min().item<int64_t>()) + ", max " +
                  std::to_string(ids.max().item<int64_t>()) + ")");
  }
  auto x =
      torch::embedding(hook_ ? hook_->weight(kEmbedModule, embed_weight_) : embed_weight_, ids);
  x = run_layers(x);
  return norm_->forward(x);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& input_ids) {
  const auto h = hidden_states(input_ids);
  return torch::linear(h, lm_head_weight()).to(torch::kFloat32);
}

}  // namespace qatwb::model
