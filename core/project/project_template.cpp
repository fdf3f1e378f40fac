#include "core/project/project_template.h"

#include "core/project/field_patterns.h"
#include "core/util/error.h"

namespace qatwb::project {

// Keep identical to resources/templates/project.yaml.
static const char kTemplate[] =
    R"YAML(# qatwb project: quantization-aware training of a Llama-family model.
# Check it with `qatwb project check project.yaml`; relative paths are relative to this file.
# A project may start from another one with `extends: base.yaml` (keys here override the base's).
name: {{name}}
description: ""

model:
  # Exactly one of: path (an HF folder with config.json, *.safetensors, tokenizer.json) or
  # preset (random init of a named size, e.g. llama-tiny, for trying things on a CPU).
  preset: llama-tiny
  # path: models/Llama-3.2-1B
  # tokenizer: models/Llama-3.2-1B/tokenizer.json   # default: <path>/tokenizer.json
  seed: 0

data:
  sources:                      # .jsonl, .jsonl.zst, .jsonl.gz, .txt, or a folder of those
    - path: data/train.jsonl
      text_field: text          # jsonl only
      weight: 1.0               # sampling weight among sources
  seed: 0
  max_documents: 0              # 0: no limit
  max_tokens: 0                 # 0: no limit
  heldout_fraction: 0.1         # in (0, 1)
  stop_on_bad_line: false       # false: skip bad lines with a file:line warning

tokenize:
  seq_len: 256                  # >= 8
  bos: document                 # none | document | window
  eos_between_documents: true
  threads: 0                    # 0: all cores

quant:
  enabled: true
  format: int                   # int | mxfp4 | nvfp4 | gguf (FP4 is 4-bit: omit bits;
                                # gguf: set gguf_type, e.g. q4_k)
  bits: 4                       # 1, 1.58 (ternary), 2, 3, 4, 8
  granularity: per_channel      # per_tensor | per_channel | per_group (needs group_size)
  group_size: 128               # power of two
  symmetric: true
  scale: learned                # minmax (s = max|w|/Qp every forward) | learned | frozen
  scale_init: auto              # learned / frozen: auto (stableqat, but max|w|/2 at W2) |
                                # stableqat (max|w|/Qp, max|w| at W2) | max_over_qp |
                                # max_over_qn | max_abs | mean_abs | lsq (2 mean|w|/sqrt(Qp)) | mse
  surrogate: ste                # ste | stableqat | dsq | lsq | pact | paretoq | ewgs | adaround
  surrogate_params:
    amplitude: 0.21             # stableqat: A in [0, 1/(sqrt2*pi) = 0.2251)
    fourier_order: 0            # stableqat: terms m = 0..M, M in 0..7
    alpha: 0.2                  # dsq: initial alpha in (0, 0.5)
    learn_alpha: true           # dsq
    scale_grad: chain           # dsq: chain (through the soft quantizer, as StableQAT's DSQ) | lsq
    delta: 0.001                # ewgs: >= 0 (0 is STE), in the paper's normalised [0, 1] units
    lsq_grad_scale: 0           # lsq: <= 0 means 1/sqrt(numel(W) * Qp)
    reg_weight: 0.01            # adaround: rounding regulariser weight (mean over weights)
    beta_start: 20              # adaround: beta annealed from beta_start ...
    beta_end: 2                 # adaround: ... down to beta_end at the last step
    reg_warmup: 0.2             # adaround: fraction of steps before the regulariser starts
  activations:
    kind: none                  # none | int8_per_token | pact
    signed: true                # pact: clip to [-alpha, alpha] (Llama Linear inputs are signed)
    bits: 8                     # pact
    alpha_init: 6.0             # pact
    l2: 0.0001                  # pact: L2 penalty on alpha
  include:                      # regexes over HF module names to quantize; also
                                # model.embed_tokens (tied: the lm_head too) and lm_head
    - '^model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj$'
  exclude: []
  overrides: []                 # mixed precision, in order: - {match: 'mlp\.down_proj$', bits: 4}
                                # (also group_size, granularity, format, surrogate, enabled)
  schedule: []                  # progressive: - {until: 100, bits: 4}, - {until: 200, bits: 3}
                                # then quant.bits; also amplitude, ewgs_delta, ramp: linear

train:
  steps: 100
  batch_size: 8                 # sequences per micro-batch
  grad_accum: 1                 # micro-batches per optimizer step
  lr: 1.0e-4
  quant_lr: 0                   # learning rate of quantizer parameters; 0: same as lr
  weight_decay: 0.0
  betas: [0.9, 0.95]
  eps: 1.0e-8
  grad_clip: 1.0                # 0: off
  schedule:
    kind: cosine                # constant | cosine | linear
    warmup_steps: 0
    min_lr_ratio: 0.0           # final lr = lr * min_lr_ratio
  seed: 0
  device: cpu                   # cpu | cuda | cuda:N
  dtype: fp32                   # fp32 | bf16
  activation_checkpointing: false
  optimizer_states: fp32        # fp32 | bf16 (AdamW moments; bf16 halves their memory)
  zero1: false                  # data parallel: each rank keeps its share of optimizer states
  threads: 0                    # 0: all cores
  checkpoint_every: 0           # steps; 0: only at the end
  max_bad_steps: 5              # NaN/Inf steps in a row before the run stops
  log_every: 1
  detail_every: 25              # per-layer statistics every N steps; 0: off
  spike_k: 3.0                  # grad-norm spike: above mean + k * std of the window
  spike_window: 50
  # distill:                    # knowledge distillation from a frozen teacher
  #   teacher: self_fp          # self_fp (the unquantized starting model) | a model folder
  #   loss: kl                  # kl | ce+kl: (1 - weight) * CE + weight * T^2 * KL
  #   weight: 0.5               # ce+kl only
  #   temperature: 1.0

eval:
  every: 0                      # steps; 0: only at the end
  seq_len: 0                    # 0: tokenize.seq_len
  max_windows: 0                # 0: all held-out windows
  post_quant_ppl: true          # real quantize-dequantize, then perplexity
  # text: data/heldout.txt      # default: the sampled held-out split

runner:
  kind: local                   # local | ssh | slurm
  # host: user@gpu-box          # ssh / slurm login host
  # remote_dir: /scratch/qatwb
  # partition: gpu
  # gpus: 1                     # per node
  # time_limit: "04:00:00"
  # nodes: 1                    # slurm
  # tasks_per_node: 0           # slurm ranks per node; 0: one per GPU
  # account: my-account         # slurm
)YAML";

const char* project_template() { return kTemplate; }

std::string render_project_template(const std::string& name) {
  if (!is_plain_name(name))
    throw Error("project name '" + name +
                "' must be a plain name (letters, digits, '.', '_', '-'): it names the run folder");
  std::string text = kTemplate;
  const std::string placeholder = "{{name}}";
  for (size_t pos = text.find(placeholder); pos != std::string::npos;
       pos = text.find(placeholder, pos + name.size()))
    text.replace(pos, placeholder.size(), name);
  return text;
}

}  // namespace qatwb::project
