#include <tapegrad/autograd/detail/deferred_grad.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/node.hpp>

namespace tg::detail {
namespace {

// The staged rows of one weight. Entries are reused across iterations (their vectors keep
// their capacity), so a training loop stops allocating here after its first step.
template <class T>
struct Stage {
  TensorImpl* weight = nullptr;  // alive until the tape is released, after the flush
  std::size_t rows = 0;
  std::vector<T> dy, x;  // [rows, O], [rows, I]
};

template <class T>
std::vector<Stage<T>>& stages() {
  thread_local std::vector<Stage<T>> s;
  return s;
}

// dW [O, I] += dY^T [O, rows] . X [rows, I]; the stage keeps its weight and becomes empty.
template <class T>
void add_staged_rows(Stage<T>& s) {
  const std::size_t O = s.weight->shape[0], I = s.weight->shape[1];
  gemm(true, false, O, I, s.rows, T(1), s.dy.data(), O, s.x.data(), I, T(1), s.weight->template grad_acc<T>(), I);
  s.rows = 0;
}

template <class T>
void flush(std::vector<Stage<T>>& all) {
  for (Stage<T>& s : all) {
    if (!s.weight) continue;
    if (s.rows) add_staged_rows(s);
    TensorImpl* w = s.weight;
    s.weight = nullptr;
    if (is_anomaly_enabled() && !w->grad_finite())
      throw NonFiniteError("anomaly: the backward of op 'linear' produced a NaN/Inf gradient for its weight of shape " +
                           to_string(w->shape));
  }
}

template <class T>
void discard(std::vector<Stage<T>>& all) {
  for (Stage<T>& s : all) {
    s.weight = nullptr;
    s.rows = 0;
  }
}

}  // namespace

template <class T>
void defer_weight_grad(TensorImpl& weight, const T* dy, const T* x, std::size_t N) {
  auto& all = stages<T>();
  auto it = std::find_if(all.begin(), all.end(), [&](const Stage<T>& s) { return s.weight == &weight; });
  if (it == all.end()) it = std::find_if(all.begin(), all.end(), [](const Stage<T>& s) { return !s.weight; });
  if (it == all.end()) it = all.insert(all.end(), Stage<T>());
  Stage<T>& s = *it;
  s.weight = &weight;
  const std::size_t O = weight.shape[0], I = weight.shape[1];
  // A full stage is added now: the GEMM is already efficient at kStageRows, and a bounded stage
  // stays in cache while it fills (a whole sequence's rows would stream through memory twice).
  if (s.rows && s.rows + N > kStageRows) add_staged_rows(s);
  // Rows may be added in any order: dY^T X is a sum over rows.
  // Grow only: shrinking and regrowing would zero-fill the rows again every iteration.
  if (s.dy.size() < (s.rows + N) * O) s.dy.resize((s.rows + N) * O);
  if (s.x.size() < (s.rows + N) * I) s.x.resize((s.rows + N) * I);
  copy_rows(s.dy.data() + s.rows * O, O, dy, O, N, O);  // Note [copies on the pool]
  copy_rows(s.x.data() + s.rows * I, I, x, I, N, I);
  s.rows += N;
}

void flush_deferred_grads() {
  flush(stages<float>());
  flush(stages<double>());
}

void discard_deferred_grads() {
  discard(stages<float>());
  discard(stages<double>());
}

template void defer_weight_grad<float>(TensorImpl&, const float*, const float*, std::size_t);
template void defer_weight_grad<double>(TensorImpl&, const double*, const double*, std::size_t);

}  // namespace tg::detail
