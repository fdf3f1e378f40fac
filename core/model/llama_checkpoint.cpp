// Activation checkpointing of one decoder layer as a custom autograd Function: forward runs the
// layer under NoGradGuard and keeps only its inputs; backward recomputes it with grad enabled
// and differentiates the recomputation with torch::autograd::grad.
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <unordered_set>

#include "core/model/llama_layers.h"

namespace qatwb::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr size_t kLayerTensors = 9;  // 2 norms + 7 linear weights

LayerTensors unpack(const variable_list& v, size_t first) {
  LayerTensors t;
  t.input_norm = v[first];
  t.post_attention_norm = v[first + 1];
  for (size_t i = 0; i < 7; ++i) t.linear[i] = v[first + 2 + i];
  return t;
}

// Restores the autocast state of the forward pass during the recomputation (backward may run
// on another thread, or after the caller's autocast region has ended).
class AutocastState {
 public:
  static void save(AutogradContext* ctx) {
    ctx->saved_data["ac_gpu"] = at::autocast::is_enabled();
    ctx->saved_data["ac_cpu"] = at::autocast::is_cpu_enabled();
    ctx->saved_data["ac_gpu_dtype"] = static_cast<int64_t>(at::autocast::get_autocast_gpu_dtype());
    ctx->saved_data["ac_cpu_dtype"] = static_cast<int64_t>(at::autocast::get_autocast_cpu_dtype());
  }
  explicit AutocastState(AutogradContext* ctx)
      : gpu_(at::autocast::is_enabled()),
        cpu_(at::autocast::is_cpu_enabled()),
        gpu_dtype_(at::autocast::get_autocast_gpu_dtype()),
        cpu_dtype_(at::autocast::get_autocast_cpu_dtype()) {
    at::autocast::set_autocast_gpu_dtype(
        static_cast<at::ScalarType>(ctx->saved_data["ac_gpu_dtype"].toInt()));
    at::autocast::set_autocast_cpu_dtype(
        static_cast<at::ScalarType>(ctx->saved_data["ac_cpu_dtype"].toInt()));
    at::autocast::set_enabled(ctx->saved_data["ac_gpu"].toBool());
    at::autocast::set_cpu_enabled(ctx->saved_data["ac_cpu"].toBool());
  }
  ~AutocastState() {
    at::autocast::set_enabled(gpu_);
    at::autocast::set_cpu_enabled(cpu_);
    at::autocast::set_autocast_gpu_dtype(gpu_dtype_);
    at::autocast::set_autocast_cpu_dtype(cpu_dtype_);
    at::autocast::clear_cache();
  }
  AutocastState(const AutocastState&) = delete;
  AutocastState& operator=(const AutocastState&) = delete;

 private:
  bool gpu_, cpu_;
  at::ScalarType gpu_dtype_, cpu_dtype_;
};

// Leaves that require grad in the graph behind `root`, other than `known` (the recomputation's
// own inputs): parameters used inside the layer by hook->input().
std::vector<torch::Tensor> foreign_leaves(const torch::Tensor& root,
                                          const std::vector<torch::Tensor>& known) {
  std::unordered_set<const void*> known_impls;
  for (const auto& t : known) known_impls.insert(t.unsafeGetTensorImpl());
  std::vector<torch::Tensor> leaves;
  std::unordered_set<const torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack;
  if (root.grad_fn()) stack.push_back(root.grad_fn().get());
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(node)) {
      if (!known_impls.count(acc->variable.unsafeGetTensorImpl())) leaves.push_back(acc->variable);
      continue;
    }
    for (const auto& edge : node->next_edges())
      if (edge.function) stack.push_back(edge.function.get());
  }
  return leaves;
}

// The layer and the hook the forward used, kept alive until backward has recomputed.
struct CheckpointTarget : torch::CustomClassHolder {
  std::shared_ptr<DecoderLayerImpl> layer;
  std::shared_ptr<WeightHook> hook;
};

struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  // Inputs: x, cos, sin, the 9 layer tensors, and the layer + hook (not differentiable).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos, const torch::Tensor& sin,
                               at::TensorList tensors,
                               const c10::intrusive_ptr<CheckpointTarget>& target) {
    variable_list saved{x, cos, sin};
    saved.insert(saved.end(), tensors.begin(), tensors.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["target"] = c10::IValue::make_capsule(target);
    AutocastState::save(ctx);
    torch::NoGradGuard no_grad;
    const LayerTensors t = unpack(saved, 3);
    return target->layer->forward(x, RopeTables{cos, sin}, target->hook.get(), &t);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const auto target =
        c10::static_intrusive_pointer_cast<CheckpointTarget>(ctx->saved_data["target"].toCapsule());
    DecoderLayerImpl* layer = target->layer.get();
    WeightHook* hook = target->hook.get();
    AutocastState autocast(ctx);
    torch::AutoGradMode grad_on(true);

    // Detached copies of the differentiable inputs: x and the 9 layer tensors.
    std::vector<torch::Tensor> inputs;
    inputs.push_back(saved[0].detach().requires_grad_(true));
    variable_list layer_inputs(saved.begin(), saved.end());
    for (size_t i = 0; i < kLayerTensors; ++i) {
      auto d = saved[3 + i].detach().requires_grad_(true);
      layer_inputs[3 + i] = d;
      inputs.push_back(d);
    }
    const LayerTensors t = unpack(layer_inputs, 3);
    const torch::Tensor y = layer->forward(inputs[0], RopeTables{saved[1], saved[2]}, hook, &t);

    const auto extra = foreign_leaves(y, inputs);
    std::vector<torch::Tensor> wrt = inputs;
    wrt.insert(wrt.end(), extra.begin(), extra.end());
    const auto grads = torch::autograd::grad({y}, wrt, {grad_outputs[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < extra.size(); ++i) {
        const auto& g = grads[inputs.size() + i];
        if (!g.defined()) continue;
        auto leaf = extra[i];
        if (leaf.grad().defined())
          leaf.mutable_grad().add_(g);
        else
          leaf.mutable_grad() = g.clone();
      }
    }
    variable_list out{grads[0], torch::Tensor(), torch::Tensor()};
    for (size_t i = 0; i < kLayerTensors; ++i) out.push_back(grads[1 + i]);
    out.push_back(torch::Tensor());  // target
    return out;
  }
};

}  // namespace

torch::Tensor checkpointed_layer(const std::shared_ptr<DecoderLayerImpl>& layer,
                                 const torch::Tensor& x, const RopeTables& rope,
                                 const std::shared_ptr<WeightHook>& hook,
                                 const LayerTensors& tensors) {
  std::vector<torch::Tensor> list{tensors.input_norm, tensors.post_attention_norm};
  list.insert(list.end(), tensors.linear.begin(), tensors.linear.end());
  auto target = c10::make_intrusive<CheckpointTarget>();
  target->layer = layer;
  target->hook = hook;
  return CheckpointedLayer::apply(x, rope.cos, rope.sin, at::TensorList(list), target);
}

}  // namespace qatwb::model
