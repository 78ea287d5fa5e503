#include "data_parallel.hpp"

#include <cstdlib>
#include <stdexcept>

#include "options.hpp"

#ifdef CHAR_LM_WITH_MPI
#include <tapegrad/dist/dist.hpp>
#endif

namespace charlm {

#ifdef CHAR_LM_WITH_MPI
namespace {
std::unique_ptr<tg::dist::Session> session;
}

bool MpiRuntime::available() { return true; }
MpiRuntime::MpiRuntime() {
  int argc = 0;
  char** argv = nullptr;
  session = std::make_unique<tg::dist::Session>(argc, argv);
}
MpiRuntime::~MpiRuntime() { session.reset(); }
void MpiRuntime::abort(const std::string& message, int exit_code) const { tg::dist::abort(message, exit_code); }

struct DataParallel::Allreduce {
  tg::dist::GradientAllreduce grads;
};

DataParallel::DataParallel(bool distributed) : distributed_(distributed) {
  if (!distributed) return;
  if (!tg::dist::initialized()) throw std::logic_error("DataParallel: --distributed needs a live MpiRuntime");
  rank_ = tg::dist::rank();
  size_ = tg::dist::world_size();
}
DataParallel::~DataParallel() = default;

void DataParallel::check_same(const std::map<std::string, std::string>& settings) const {
  if (!distributed_) return;
  try {
    tg::dist::check_same_settings(settings);
  } catch (const std::invalid_argument& e) {
    throw InputError(e.what());
  }
}

void DataParallel::start(const std::vector<tg::Tensor>& params) {
  if (!distributed_) return;
  tg::dist::broadcast_parameters(params);
  allreduce_ = std::make_unique<Allreduce>(Allreduce{tg::dist::GradientAllreduce(params)});
}

void DataParallel::average_gradients() {
  if (allreduce_) allreduce_->grads.average();
}
double DataParallel::allreduce_seconds() const { return allreduce_ ? allreduce_->grads.seconds_in_allreduce() : 0.0; }

double DataParallel::mean(double value) const {
  if (!distributed_) return value;
  std::vector<double> v{value};
  tg::dist::allreduce_sum(v);
  return v[0] / double(size_);
}
bool DataParallel::any(bool value) const { return distributed_ ? mean(value ? 1.0 : 0.0) > 0 : value; }
double DataParallel::from_root(double value) const { return distributed_ ? tg::dist::broadcast(value) : value; }
std::vector<std::string> DataParallel::allgather(const std::string& value) const {
  return distributed_ ? tg::dist::allgather(value) : std::vector<std::string>{value};
}
tg::Tensor DataParallel::gather_rows(const tg::Tensor& local) const {
  return distributed_ ? tg::dist::gather_rows(local) : local;
}

#else  // built without tapegrad::dist: a group of one, and --distributed is an error

bool MpiRuntime::available() { return false; }
MpiRuntime::MpiRuntime() {
  throw InputError("--distributed: this char_lm was built without MPI (configure with -DTAPEGRAD_WITH_MPI=ON; "
                   "Debian: apt-get install libopenmpi-dev openmpi-bin)");
}
MpiRuntime::~MpiRuntime() = default;
void MpiRuntime::abort(const std::string&, int exit_code) const { std::exit(exit_code); }

struct DataParallel::Allreduce {};
DataParallel::DataParallel(bool distributed) : distributed_(distributed) {
  if (distributed) throw InputError("--distributed: this char_lm was built without MPI");
}
DataParallel::~DataParallel() = default;
void DataParallel::check_same(const std::map<std::string, std::string>&) const {}
void DataParallel::start(const std::vector<tg::Tensor>&) {}
void DataParallel::average_gradients() {}
double DataParallel::allreduce_seconds() const { return 0.0; }
double DataParallel::mean(double value) const { return value; }
bool DataParallel::any(bool value) const { return value; }
double DataParallel::from_root(double value) const { return value; }
std::vector<std::string> DataParallel::allgather(const std::string& value) const { return {value}; }
tg::Tensor DataParallel::gather_rows(const tg::Tensor& local) const { return local; }

#endif

std::size_t DataParallel::streams(std::size_t batch) const {
  if (batch % std::size_t(size_) != 0)
    throw InputError("--batch " + std::to_string(batch) + " is not divisible by the " + std::to_string(size_) +
                     " ranks: each rank must hold an equal share of the streams (so the run matches a "
                     "single process with the same --batch)");
  return batch / std::size_t(size_);
}

}  // namespace charlm
