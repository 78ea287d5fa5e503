#include "char_lm_cells.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <sys/resource.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace seqtasks {
namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }  // paths without quotes

// User + system CPU seconds of every finished child process so far.
double children_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// Runs a shell command; its stdout and stderr and its exit code.
std::string run_command(const std::string& command, int& exit_code) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

// (step, val_bpc) of every row of char_lm's CSV log that has a validation.
std::vector<std::pair<std::size_t, double>> validation_rows(const std::string& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // step,train_loss,val_loss,val_bpc,...
  std::vector<std::pair<std::size_t, double>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) f.push_back(field);
    if (f.size() > 3 && !f[3].empty()) rows.emplace_back(std::stoull(f[0]), std::stod(f[3]));
  }
  return rows;
}

// The code points of UTF-8 text, each as its bytes (a lead byte and its continuation bytes).
std::vector<std::string> code_points(const std::string& text) {
  std::vector<std::string> out;
  for (unsigned char ch : text) {
    if ((ch & 0xC0) == 0x80 && !out.empty()) out.back() += char(ch);
    else out.emplace_back(1, char(ch));
  }
  return out;
}

}  // namespace

std::vector<CharLmRun> char_lm_runs(const CharLmConfig& c) {
  std::vector<CharLmRun> runs;
  for (const std::string& cell : c.cells) runs.push_back({cell, c.cell_block, c.tokens_per_step / c.cell_block});
  for (std::size_t block : c.blocks) {
    const CharLmRun r{c.block_cell, block, c.tokens_per_step / block};
    const bool done = std::any_of(runs.begin(), runs.end(), [&](const CharLmRun& x) {
      return x.cell == r.cell && x.block == r.block;
    });
    if (!done) runs.push_back(r);
  }
  return runs;
}

CharLmOutcome run_char_lm(const CharLmConfig& c, const CharLmRun& run) {
  if (run.block * run.batch != c.tokens_per_step)
    throw std::invalid_argument("block " + std::to_string(run.block) + " does not divide " +
                                std::to_string(c.tokens_per_step) + " tokens per step");
  std::filesystem::create_directories(c.work_dir);
  const std::string name = c.work_dir + "/" + run.cell + "_T" + std::to_string(run.block);
  std::filesystem::remove(name + ".csv");  // char_lm appends to an existing log
  std::ostringstream cmd;
  cmd << quoted(c.char_lm) << " train --data " << quoted(c.data) << " --cell " << run.cell << " --steps " << c.steps
      << " --block " << run.block << " --batch " << run.batch << " --hidden " << c.hidden << " --embed " << c.embed
      << " --lr " << c.lr << " --clip " << c.clip << " --seed " << c.seed << " --threads " << c.threads
      << " --val-every " << c.val_every << " --print-every " << c.val_every << " --checkpoint "
      << quoted(name + ".safetensors") << " --overwrite --log " << quoted(name + ".csv") << " --json";
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = children_cpu_seconds();
  int exit_code = 0;
  const std::string output = run_command(cmd.str(), exit_code);
  CharLmOutcome o;
  o.run = run;
  o.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  o.cpu_seconds = children_cpu_seconds() - cpu_start;
  if (exit_code != 0)
    throw std::runtime_error("`" + cmd.str() + "` exited with " + std::to_string(exit_code) + ":\n" + output);
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(R"(, (\d+) parameters;)")))
    throw std::runtime_error("no parameter count in the output of `" + cmd.str() + "`");
  o.parameters = std::stoull(m[1]);
  const std::size_t json_at = output.rfind("\n{");
  const nlohmann::json result = nlohmann::json::parse(output.substr(json_at == std::string::npos ? 0 : json_at + 1));
  o.val_bpc = result.at("val_bpc").get<double>();
  o.tokens_per_s = result.at("tokens_per_s").get<double>();
  o.tokens = c.steps * c.tokens_per_step;
  o.train_seconds = double(o.tokens) / o.tokens_per_s;
  for (const auto& [step, bpc] : validation_rows(name + ".csv")) o.val_curve.emplace_back(step * c.tokens_per_step, bpc);
  return o;
}

double unigram_bits_per_char(const std::string& data_path, double val_fraction) {
  std::ifstream in(data_path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + data_path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::string> cps = code_points(text);
  const std::size_t n_train = std::size_t(double(cps.size()) * (1.0 - val_fraction));  // char_lm's split
  std::map<std::string, double> counts;
  for (const std::string& cp : cps) counts[cp] = 1.0;  // add-one over the corpus' characters
  for (std::size_t i = 0; i < n_train; ++i) counts[cps[i]] += 1.0;
  const double total = double(n_train) + double(counts.size());
  double bits = 0;
  for (std::size_t i = n_train; i < cps.size(); ++i) bits -= std::log2(counts[cps[i]] / total);
  return bits / double(cps.size() - n_train);
}

}  // namespace seqtasks
