#pragma once
// The files char_lm reads and writes, checked before any work starts, so that a path that
// cannot work is exit 2 naming it, never a hang (a FIFO), a raw library message (a folder),
// or an hour of training lost to a checkpoint that cannot be written.
#include <string>
#include <utility>
#include <vector>

namespace charlm {

// A regular file that exists and can be opened for reading (InputError otherwise). `what`
// names it: "--data", or "the corpus named by checkpoint.safetensors".
void check_readable_file(const std::string& what, const std::string& path);

// A path that a file can be written to atomically: if it exists, a regular file; its folder
// exists, is a folder, and takes a new file with the longest name the writer's temporary file
// can have (so a read-only or pseudo file system, a name too long, or a path under a regular
// file is found now, not at the first save).
void check_writable_file(const std::string& what, const std::string& path);

// No two of these (what, path) pairs name the same file: the same text, another spelling of
// the same path, or a hard link to it.
void check_distinct(const std::vector<std::pair<std::string, std::string>>& files);

// `path` for a message: control characters as \xNN, long paths cut with "…".
std::string shown(const std::string& path);

}  // namespace charlm
