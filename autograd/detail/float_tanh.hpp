#pragma once
// Note [float tanh]: tg::tanh on float32 is a rational function, not xsimd's tanh.
//
// xsimd's float tanh evaluates a polynomial for |x| < 0.625 and 1 - 2 / (e^2x + 1) above, and a
// SIMD register holding both kinds of lanes runs both branches: 1.24 ns per element on a
// recurrent cell's gate inputs on this project's AMD host, 5 µs of every LSTM time step at S
// (docs/gemm_study.md, "What utilization 0.85 would take at S"). Here, one branch-free form for
// every lane: tanh x ~ x P(x^2) / Q(x^2), P of degree 4 and Q of degree 4 in x^2 (a [9/8]
// rational function), with |x| clamped to 9; from 9.02 on, tanh rounds to 1 in float.
//
// The coefficients are a minimax fit of the relative error on [0, 9] made for tapegrad
// (scripts/fit_tanh.py: iteratively reweighted linear least squares, float64): 2.1e-8 in
// exact arithmetic. Evaluated in float32, the error is at most 5.6 ulp (3.3e-7 absolute, near
// |x| = 8, where P and Q are large); xsimd's is about 1 ulp. The result is odd by
// construction, clamped to [-1, 1], and NaN stays NaN (anomaly mode must see it). float64
// keeps the libm-accurate tanh: gradient checks run in float64.
#include <cmath>

#include <xsimd/xsimd.hpp>

namespace tg::detail {

// tanh(x) for a float or an xsimd batch of floats (Note [float tanh]).
template <class V>
V float_tanh(const V& x) {
  using xsimd::fma;
  constexpr float p0 = 1.0f, p1 = 0.13381041586399078f, p2 = 0.0034956077579408884f,
                  p3 = 2.060939914372284e-05f, p4 = 1.3355091255107254e-08f;
  constexpr float q0 = 1.0f, q1 = 0.46714356541633606f, q2 = 0.025877056643366814f,
                  q3 = 0.00032856667530722916f, q4 = 7.776736197229184e-07f;
  const V abs_x = xsimd::abs(x);  // tanh is odd: the sign goes back at the end
  const V a = xsimd::min(abs_x, V(9.0f));
  const V s = a * a;
  const V p = fma(fma(fma(fma(V(p4), s, V(p3)), s, V(p2)), s, V(p1)), s, V(p0));  // P(s)
  const V q = fma(fma(fma(fma(V(q4), s, V(q3)), s, V(q2)), s, V(q1)), s, V(q0));  // Q(s)
  // |tanh x| <= 1 also after rounding; from 9.02 on, 1 - tanh x < half an ulp of 1: exactly 1
  const V r = xsimd::select(abs_x >= V(9.02f), V(1.0f), xsimd::min(a * p / q, V(1.0f)));
  return xsimd::select(xsimd::isnan(x), x, xsimd::copysign(r, x));  // NaN in, NaN out
}

// The xtensor functor of tg::tanh's float forward: xtensor calls simd_apply on whole batches.
struct float_tanh_fun {
  float operator()(float x) const { return float_tanh(xsimd::batch<float>(x)).get(0); }
  template <class B>
  B simd_apply(const B& x) const {
    return float_tanh(x);
  }
};

}  // namespace tg::detail
