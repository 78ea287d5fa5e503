#include "common/cli.hpp"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>

#include "common/decimal_flags.hpp"

namespace tgex {

std::string CommonFlags::path(const std::string& file) const { return out_dir + "/" + file; }

void add_common_flags(CLI::App& app, CommonFlags& flags) {
  app.add_option("--out", flags.out_dir, "Folder for the CSV and SVG (created if missing)")->capture_default_str();
  app.add_option("--seed", flags.seed, "Random seed (same seed, same numbers)")->capture_default_str();
  app.add_flag("--quick", flags.quick, "The reduced version (what ctest runs)");
  app.add_option("--threads", flags.threads, "BLAS threads")->check(CLI::Range(1, 64))->capture_default_str();
}

int run_main(CLI::App& app, CommonFlags& flags, int argc, char** argv, const std::function<int()>& run) {
  if (const int code = parse_command_line(app, argc, argv); code >= 0) return code;
  try {
    std::error_code ec;
    std::filesystem::create_directories(flags.out_dir, ec);
    if (ec) throw std::invalid_argument("--out " + flags.out_dir + ": cannot create the folder (" + ec.message() + ")");
    tg::set_num_threads(flags.threads);
    return run();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", app.get_name().c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", app.get_name().c_str(), e.what());
    return 1;
  }
}

}  // namespace tgex
