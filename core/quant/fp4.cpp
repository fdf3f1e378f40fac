#include "core/quant/fp4.h"

#include "core/util/error.h"

namespace qatwb::quant {
namespace {

const float kE2m1[16] = {0.f,  0.5f,  1.f,  1.5f,  2.f,  3.f,  4.f,  6.f,
                         -0.f, -0.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};

torch::Tensor pow2(const torch::Tensor& e_int) {
  return torch::ldexp(torch::ones(e_int.sizes(), e_int.options().dtype(torch::kFloat)), e_int);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class Fp4FakeQuantFn : public torch::autograd::Function<Fp4FakeQuantFn> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor w2d, int64_t format) {
    ctx->save_for_backward({w2d});
    ctx->saved_data["format"] = format;
    const Fp4Scales s = fp4_scales(static_cast<Format>(format), w2d);
    auto codes = e2m1_encode(w2d.to(torch::kFloat) / s.divisor);
    return fp4_values(codes, s.divisor).to(w2d.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto w2d = ctx->get_saved_variables()[0];
    const Fp4Scales s = fp4_scales(static_cast<Format>(ctx->saved_data["format"].toInt()), w2d);
    auto inside = (w2d.to(torch::kFloat) / s.divisor).abs() <= 6.0;
    auto g = torch::where(inside, grads[0], torch::zeros({}, grads[0].options()));
    return {g.to(w2d.scalar_type()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor e2m1_encode(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat);
  auto a = xf.abs().clamp_max(6.0);
  auto idx = (a > 0.25).to(torch::kInt) + (a >= 0.75).to(torch::kInt) + (a > 1.25).to(torch::kInt) +
             (a >= 1.75).to(torch::kInt) + (a > 2.5).to(torch::kInt) + (a >= 3.5).to(torch::kInt) +
             (a > 5.0).to(torch::kInt);
  return ((xf < 0).to(torch::kInt) * 8 + idx).to(torch::kUInt8);
}

torch::Tensor e2m1_decode(const torch::Tensor& codes) {
  auto table =
      torch::from_blob(const_cast<float*>(kE2m1), {16}, torch::kFloat).clone().to(codes.device());
  auto idx = codes.to(torch::kLong).bitwise_and(15).reshape({-1});
  return table.index_select(0, idx).view(codes.sizes());
}

torch::Tensor e4m3_round(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat);
  auto a = xf.abs().clamp_max(448.0);
  auto fr = torch::frexp(a);                     // a = m * 2^ex, m in [0.5, 1)
  auto e = (std::get<1>(fr) - 1).clamp_min(-6);  // binade, subnormals below -6
  auto quantum = pow2(e - 3);                    // 3 mantissa bits
  auto r = (torch::round(a / quantum) * quantum).clamp_max(448.0);
  r = torch::where(a == 0, torch::zeros_like(r), r);
  return torch::where(xf < 0, -r, r);
}

torch::Tensor e4m3_encode(const torch::Tensor& x) {
  auto xf = e4m3_round(x);
  auto a = xf.abs();
  auto fr = torch::frexp(a);
  auto e = std::get<1>(fr) - 1;
  auto normal = e >= -6;
  auto mant_normal = (a / pow2(e) * 8.0 - 8.0).round().to(torch::kInt);
  auto field_normal = (e + 7).to(torch::kInt) * 8 + mant_normal;
  auto field_sub = (a * 512.0).round().to(torch::kInt);  // m * 2^-9
  auto field = torch::where(normal.logical_and(a > 0), field_normal, field_sub);
  return ((xf < 0).to(torch::kInt) * 128 + field).to(torch::kUInt8);
}

torch::Tensor e4m3_decode(const torch::Tensor& bits) {
  auto b = bits.to(torch::kInt);
  auto sign = b.bitwise_and(128) > 0;
  auto field = b.bitwise_and(127).div(8, "floor");
  auto mant = b.bitwise_and(7).to(torch::kFloat);
  auto normal = (1.0 + mant / 8.0) * pow2(field - 7);
  auto sub = mant * (1.0 / 512.0);
  auto v = torch::where(field > 0, normal, sub);
  return torch::where(sign, -v, v);
}

torch::Tensor mx_exponent(const torch::Tensor& amax) {
  auto y = amax.to(torch::kFloat) / 6.0;
  auto fr = torch::frexp(y);  // y = m * 2^ex; ceil(log2 y) = ex - 1 when m == 0.5, else ex
  auto e = torch::where(std::get<0>(fr) == 0.5, std::get<1>(fr) - 1, std::get<1>(fr));
  e = torch::where(y == 0, torch::full_like(e, -127), e);
  return e.clamp(-127, 127).to(torch::kInt);
}

torch::Tensor e8m0_encode(const torch::Tensor& scale) {
  auto fr = torch::frexp(scale.to(torch::kFloat));
  return (std::get<1>(fr) - 1 + 127).clamp(0, 254).to(torch::kUInt8);
}

torch::Tensor e8m0_decode(const torch::Tensor& bits) { return pow2(bits.to(torch::kInt) - 127); }

int64_t fp4_block_size(Format f) {
  if (f == Format::MxFp4) return 32;
  if (f == Format::NvFp4) return 16;
  throw Error(std::string("fp4: format ") + to_string(f) + " is not a 4-bit float format");
}

Fp4Scales fp4_scales(Format f, const torch::Tensor& x2d) {
  torch::NoGradGuard no_grad;
  auto xa = x2d.detach().to(torch::kFloat).abs();
  auto amax = xa.amax(1);
  Fp4Scales s;
  if (f == Format::MxFp4) {
    s.block = pow2(mx_exponent(amax));
    s.divisor = s.block.unsqueeze(1);
    return s;
  }
  fp4_block_size(f);
  auto s2 = xa.max() / (6.0 * 448.0);
  s2 = torch::where(s2 > 0, s2, torch::ones_like(s2));
  auto block = e4m3_round(amax / (s2 * 6.0));
  s.block = torch::where(block > 0, block, torch::ones_like(block));
  s.scale_2 = s2;
  s.divisor = (s.block * s2).unsqueeze(1);
  return s;
}

torch::Tensor fp4_values(const torch::Tensor& codes2d, const torch::Tensor& divisor) {
  return e2m1_decode(codes2d) * divisor;
}

torch::Tensor fp4_fake_quant(Format f, const BlockLayout& layout, const torch::Tensor& w) {
  auto w2d = w.reshape({layout.rows, layout.cols});
  return Fp4FakeQuantFn::apply(w2d, static_cast<int64_t>(f)).view(w.sizes());
}

}  // namespace qatwb::quant
