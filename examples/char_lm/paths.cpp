#include "paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <tapegrad/autograd/number_text.hpp>

#include "options.hpp"

namespace charlm {
namespace {

namespace fs = std::filesystem;

// The checkpoint writer's temporary file is "<path>.tmp.<pid>.<counter>.<clock>": at most
// 5 + 7 + 1 + 20 + 1 + 10 characters longer than the path.
constexpr std::size_t kTempSuffixMax = 44;

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::string& what, const std::string& path, const std::string& problem) {
  throw InputError(what + " " + shown(path) + ": " + problem);
}

void require_path(const std::string& what, const std::string& path) {
  if (path.empty()) throw InputError(what + " is empty: give a file name");
}

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

std::string shown(const std::string& path) { return tg::quote_input(path, 120); }

void check_readable_file(const std::string& what, const std::string& path) {
  require_path(what, path);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    refuse(what, path, errno == ENOENT ? "no such file" : std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(what, path, std::string("is ") + kind_of(st.st_mode) + ", not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) refuse(what, path, std::string("cannot be read: ") + std::strerror(errno));
  ::close(fd);
}

void check_writable_file(const std::string& what, const std::string& path) {
  require_path(what, path);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    refuse(what, path, std::string("is ") + kind_of(st.st_mode) + "; give the path of a regular file");
  const std::string folder = folder_of(path);
  if (::stat(folder.c_str(), &st) != 0)
    refuse(what, path, "its folder " + shown(folder) + " cannot be used: " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) refuse(what, path, "its folder " + shown(folder) + " is not a folder");
  // Create (and remove) a file with the longest name the writer will use: root ignores the
  // permission bits, so only a real attempt finds a read-only or pseudo file system.
  const std::string probe = path + ".tmp." + std::string(kTempSuffixMax - 5, '0');
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) {
    if (errno == ENAMETOOLONG)
      refuse(what, path, "the name is too long for the temporary file written beside it; use a shorter name");
    refuse(what, path, "cannot write in its folder " + shown(folder) + ": " + std::strerror(errno));
  }
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
  }
}

void check_distinct(const std::vector<std::pair<std::string, std::string>>& files) {
  auto same = [](const std::string& a, const std::string& b) {
    struct stat sa, sb;
    if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
      return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    std::error_code ea, eb;
    const fs::path pa = fs::weakly_canonical(fs::absolute(a), ea), pb = fs::weakly_canonical(fs::absolute(b), eb);
    return ea || eb ? a == b : pa == pb;
  };
  for (std::size_t i = 0; i < files.size(); ++i)
    for (std::size_t j = i + 1; j < files.size(); ++j)
      if (!files[i].second.empty() && !files[j].second.empty() && same(files[i].second, files[j].second))
        throw InputError(files[i].first + " and " + files[j].first + " name the same file " + shown(files[i].second) +
                         ": give them different paths");
}

}  // namespace charlm
