// gemm_study: the GEMMs of one DESIGN §6 training step, replayed through one GEMM backend.
//
//   tapegrad_gemm_study --config S|M --cell lstm|gru|rnn --threads N --backend B [--rounds R] [--by-shape] [--json]
//
// It records the products one training step asks tg::detail::gemm for (as asked, before any
// split), then times that list back to back through the backend, R times, and prints the
// median (and min / max) milliseconds per step: in all, and by kind of product:
//   forward   C = A · Bᵀ   (x W^T: every layer's input and recurrent projection, the head)
//   dX        C = A · B    (dY W: the gradient flowing back to the input and the state)
//   dW        C = Aᵀ · B   (dYᵀ X: the weight gradients, accumulated over the block)
// Backends, one per process (bench/gemm_study.py alternates them in one invocation):
//   tapegrad        tg::detail::gemm: the linked OpenBLAS with tapegrad's skinny split
//   openblas        cblas_sgemm of the linked OpenBLAS, one call per product
//   cblas:PATH      cblas_sgemm of another BLAS loaded from PATH (another OpenBLAS variant, BLIS)
//   dnnl-sgemm      oneDNN's dnnl_sgemm (its JIT sgemm, packing every call)
//   dnnl-matmul     oneDNN's matmul primitive, one per shape, created before timing; the weight
//                   operand B of forward and dX (the products whose A is not transposed: in
//                   this step B is then a parameter) in the primitive's preferred layout,
//                   reordered once per step per shape, the reorder counted ("pack once per block")
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>

#include "common/decimal_flags.hpp"
#include "workload.hpp"

// The linked OpenBLAS's (its enums passed as their int values; no cblas.h, whose header
// directory is private to tapegrad's target).
extern "C" void cblas_sgemm(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);

namespace {

using tg::detail::GemmShape;
using Clock = std::chrono::steady_clock;

const char* kind_of(const GemmShape& g) { return g.trans_a ? "dW" : g.trans_b ? "forward" : "dX"; }
const char* const kKinds[] = {"forward", "dX", "dW"};

// Row-major leading dimensions of the operands as stored.
std::size_t lda_of(const GemmShape& g) { return g.trans_a ? g.M : g.K; }
std::size_t ldb_of(const GemmShape& g) { return g.trans_b ? g.K : g.N; }

// Scratch operands big enough for every recorded product, filled with small random values.
struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const std::vector<GemmShape>& shapes) {
    std::size_t most = 1;
    for (const auto& g : shapes) most = std::max({most, g.M * g.K, g.K * g.N, g.M * g.N});
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    for (auto* v : {&a, &b, &c}) {
      v->resize(most);
      for (float& x : *v) x = u(rng);
    }
  }
};

// A backend runs the step's products (those of one kind, or all) once.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual void run(const std::vector<GemmShape>& shapes, Operands& o) = 0;
};

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // the CBLAS enum values

class CblasBackend : public Backend {
 public:
  explicit CblasBackend(CblasSgemm sgemm) : sgemm_(sgemm) {}
  void run(const std::vector<GemmShape>& shapes, Operands& o) override {
    for (const auto& g : shapes)
      sgemm_(kRowMajor, g.trans_a ? kTrans : kNoTrans, g.trans_b ? kTrans : kNoTrans, int(g.M), int(g.N), int(g.K),
             1.0f, o.a.data(), int(lda_of(g)), o.b.data(), int(ldb_of(g)), g.accumulate ? 1.0f : 0.0f, o.c.data(),
             int(g.N));
  }

 private:
  CblasSgemm sgemm_;
};

class TapegradBackend : public Backend {
 public:
  void run(const std::vector<GemmShape>& shapes, Operands& o) override {
    for (const auto& g : shapes)
      tg::detail::gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.0f, o.a.data(), lda_of(g), o.b.data(), ldb_of(g),
                       g.accumulate ? 1.0f : 0.0f, o.c.data(), g.N);
  }
};

class DnnlSgemmBackend : public Backend {
 public:
  void run(const std::vector<GemmShape>& shapes, Operands& o) override {
    for (const auto& g : shapes)
      dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', dnnl_dim_t(g.M), dnnl_dim_t(g.N), dnnl_dim_t(g.K), 1.0f,
                 o.a.data(), dnnl_dim_t(lda_of(g)), o.b.data(), dnnl_dim_t(ldb_of(g)), g.accumulate ? 1.0f : 0.0f,
                 o.c.data(), dnnl_dim_t(g.N));
  }
};

class DnnlMatmulBackend : public Backend {
 public:
  DnnlMatmulBackend() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  void run(const std::vector<GemmShape>& shapes, Operands& o) override {
    std::vector<Plan*> plans;
    for (const auto& g : shapes) plans.push_back(&plan(g, o));
    for (Plan* p : std::set<Plan*>(plans.begin(), plans.end()))  // pack once per step: each weight once
      if (p->packed) p->reorder.execute(stream_, p->user_b, p->b);
    for (Plan* p : plans)
      p->matmul.execute(stream_, {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}});
    stream_.wait();
  }

 private:
  struct Plan {
    dnnl::memory a, user_b, b, c;
    dnnl::matmul matmul;
    dnnl::reorder reorder;  // user_b into b, when packed
    bool packed = false;
  };
  using Key = std::tuple<bool, bool, std::size_t, std::size_t, std::size_t, bool>;

  Plan& plan(const GemmShape& g, Operands& o) {
    const Key key{g.trans_a, g.trans_b, g.M, g.N, g.K, g.accumulate};
    auto found = plans_.find(key);
    if (found != plans_.end()) return found->second;
    using dt = dnnl::memory::data_type;
    using dims = dnnl::memory::dims;
    const auto M = dnnl::memory::dim(g.M), N = dnnl::memory::dim(g.N), K = dnnl::memory::dim(g.K);
    // op(A) [M, K] and op(B) [K, N] as strided views of the row-major operands.
    const dnnl::memory::desc a_md({M, K}, dt::f32, g.trans_a ? dims{1, M} : dims{K, 1});
    const dnnl::memory::desc user_b_md({K, N}, dt::f32, g.trans_b ? dims{1, K} : dims{N, 1});
    const dnnl::memory::desc c_md({M, N}, dt::f32, dims{N, 1});
    const bool packed = !g.trans_a;
    const dnnl::memory::desc b_any({K, N}, dt::f32, dnnl::memory::format_tag::any);
    dnnl::post_ops post;
    if (g.accumulate) post.append_sum(1.0f);  // C += op(A) op(B)
    dnnl::primitive_attr attr;
    attr.set_post_ops(post);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, packed ? b_any : user_b_md, c_md), attr, engine_);
    Plan p;
    p.a = dnnl::memory(a_md, engine_, o.a.data());
    p.user_b = dnnl::memory(user_b_md, engine_, o.b.data());
    p.b = packed ? dnnl::memory(pd.weights_desc(), engine_) : p.user_b;
    p.c = dnnl::memory(c_md, engine_, o.c.data());
    p.matmul = dnnl::matmul(pd);
    if (packed) p.reorder = dnnl::reorder(p.user_b, p.b);
    p.packed = packed;
    return plans_.emplace(key, std::move(p)).first->second;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Key, Plan> plans_;
};

// Loads cblas_sgemm from a shared library (RTLD_DEEPBIND: it resolves its own symbols first,
// not the linked OpenBLAS's) and sets its thread count through the library's own call.
CblasSgemm load_cblas(const std::string& path, int threads) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!lib) throw std::runtime_error("cannot load " + path + ": " + dlerror());
  auto sgemm = reinterpret_cast<CblasSgemm>(dlsym(lib, "cblas_sgemm"));
  if (!sgemm) throw std::runtime_error(path + " has no cblas_sgemm");
  if (auto set = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"))) set(threads);
  if (auto set = reinterpret_cast<void (*)(long)>(dlsym(lib, "bli_thread_set_num_threads"))) set(threads);
  return sgemm;
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "tapegrad") return std::make_unique<TapegradBackend>();
  if (name == "openblas") return std::make_unique<CblasBackend>(reinterpret_cast<CblasSgemm>(&cblas_sgemm));
  if (name == "dnnl-sgemm") return std::make_unique<DnnlSgemmBackend>();
  if (name == "dnnl-matmul") return std::make_unique<DnnlMatmulBackend>();
  if (name.rfind("cblas:", 0) == 0) return std::make_unique<CblasBackend>(load_cblas(name.substr(6), threads));
  throw std::runtime_error("--backend must be tapegrad, openblas, dnnl-sgemm, dnnl-matmul or cblas:PATH, got " + name);
}

// Milliseconds per step: min, median, max over `rounds` timings of `reps` replays each.
std::vector<double> time_ms(Backend& backend, const std::vector<GemmShape>& shapes, Operands& o, int rounds,
                            int reps) {
  backend.run(shapes, o);  // warm-up: first-call setup, page faults
  std::vector<double> ms;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) backend.run(shapes, o);
    ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - t0).count() / reps);
  }
  std::sort(ms.begin(), ms.end());
  return {ms.front(), ms[ms.size() / 2], ms.back()};
}

double gflop(const std::vector<GemmShape>& shapes) {
  double flop = 0;
  for (const auto& g : shapes) flop += 2.0 * double(g.M) * double(g.N) * double(g.K);
  return flop / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapegrad_gemm_study: one training step's GEMMs through one GEMM backend", "tapegrad_gemm_study"};
  std::string config = "S", cell = "lstm", backend_name = "tapegrad";
  int threads = 1, rounds = 7, reps = 0;
  bool json = false, by_shape = false;
  app.add_option("--config", config, "S or M (DESIGN §6)")->check(CLI::IsMember({"S", "M"}));
  app.add_option("--cell", cell, "lstm, gru or rnn")->check(CLI::IsMember({"lstm", "gru", "rnn"}));
  app.add_option("--threads", threads, "threads of the backend")->check(CLI::Range(1, 64));
  app.add_option("--backend", backend_name, "tapegrad, openblas, dnnl-sgemm, dnnl-matmul or cblas:PATH");
  app.add_option("--rounds", rounds, "timings (median reported)")->check(CLI::Range(1, 1000));
  app.add_option("--reps", reps, "step replays per timing (default: S 20, M 1)")->check(CLI::Range(0, 100000));
  app.add_flag("--json", json, "one JSON line");
  app.add_flag("--by-shape", by_shape, "also time each distinct product (kind, M, N, K) on its own");
  if (const int code = tgex::parse_command_line(app, argc, argv); code >= 0) return code;
  try {
    const tgbench::WorkloadShape w = tgbench::workload_shape(config);
    if (reps == 0) reps = config == "S" ? 20 : 1;
    tg::set_num_threads(threads);  // the linked OpenBLAS (tapegrad, openblas)
    omp_set_num_threads(threads);  // oneDNN's OpenMP runtime
    tgbench::Workload workload(w, cell);
    for (int i = 0; i < 2; ++i) workload.step();
    tg::detail::start_gemm_recording();
    workload.step();
    const std::vector<GemmShape> shapes = tg::detail::stop_gemm_recording();
    std::unique_ptr<Backend> backend = make_backend(backend_name, threads);
    // Every backend gets the warm-up tapegrad gives its own OpenBLAS (Note [OpenBLAS warm-up]):
    // one 512^3 product before timing, so a library loaded at run time is not measured cold.
    const std::vector<GemmShape> warm_up{{false, true, 512, 512, 512, false}};
    std::vector<GemmShape> sized = shapes;
    sized.insert(sized.end(), warm_up.begin(), warm_up.end());
    Operands operands(sized);
    backend->run(warm_up, operands);
    nlohmann::json out{{"config", config}, {"cell", cell}, {"threads", threads}, {"backend", backend_name},
                       {"gemms_per_step", shapes.size()}, {"gflop_per_step", gflop(shapes)}};
    auto record = [&](const std::string& what, const std::vector<GemmShape>& list) {
      const std::vector<double> ms = time_ms(*backend, list, operands, rounds, reps);
      out[what] = {{"ms_min", ms[0]}, {"ms_median", ms[1]}, {"ms_max", ms[2]}, {"gemms", list.size()},
                   {"gflop_per_s", gflop(list) / (ms[1] / 1e3)}};
    };
    record("step", shapes);
    for (const char* kind : kKinds) {
      std::vector<GemmShape> list;
      std::copy_if(shapes.begin(), shapes.end(), std::back_inserter(list),
                   [&](const GemmShape& g) { return std::string(kind_of(g)) == kind; });
      record(kind, list);
    }
    if (by_shape) {  // the step's products grouped by shape, each group timed as a list of its own
      std::map<std::tuple<std::string, std::size_t, std::size_t, std::size_t, bool>, std::vector<GemmShape>> groups;
      for (const auto& g : shapes) groups[{kind_of(g), g.M, g.N, g.K, g.accumulate}].push_back(g);
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& [key, list] : groups) {
        const std::vector<double> ms = time_ms(*backend, list, operands, rounds, reps);
        rows.push_back({{"kind", std::get<0>(key)}, {"M", std::get<1>(key)}, {"N", std::get<2>(key)},
                        {"K", std::get<3>(key)}, {"accumulate", std::get<4>(key)}, {"count", list.size()},
                        {"ms_median", ms[1]},
                        {"gflop_per_s", gflop(list) / (ms[1] / 1e3)}});
      }
      out["by_shape"] = rows;
    }
    if (json) {
      std::cout << out.dump() << "\n";
    } else {
      std::printf("%s %s %d thread(s), %s: %zu GEMMs, %.3f GFLOP per step\n", config.c_str(), cell.c_str(), threads,
                  backend_name.c_str(), shapes.size(), gflop(shapes));
      for (const char* what : {"step", "forward", "dX", "dW"})
        std::printf("  %-8s %4zu GEMMs  %8.3f ms (min %.3f, max %.3f)  %6.1f GFLOP/s\n", what,
                    std::size_t(out[what]["gemms"]), double(out[what]["ms_median"]), double(out[what]["ms_min"]),
                    double(out[what]["ms_max"]), double(out[what]["gflop_per_s"]));
      if (by_shape)
        for (const auto& r : out["by_shape"])
          std::printf("  %-8s [%zu x %zu] x [%zu x %zu]%s  x%-4zu %8.3f ms  %6.1f GFLOP/s\n",
                      std::string(r["kind"]).c_str(), std::size_t(r["M"]), std::size_t(r["K"]), std::size_t(r["K"]),
                      std::size_t(r["N"]), bool(r["accumulate"]) ? " (+=)" : "", std::size_t(r["count"]),
                      double(r["ms_median"]), double(r["gflop_per_s"]));
    }
  } catch (const std::exception& e) {
    std::cerr << "tapegrad_gemm_study: " << e.what() << "\n";
    return 2;
  }
}
