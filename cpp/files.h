// files.h — the one home of the rules for the files allocbench reads and writes by path.
//
// Reading: only a regular file. A FIFO would block the reader forever, a character device
// (/dev/urandom) never ends, a directory is no trace; each is refused at once, by name.
// Writing: only a regular file, never through a symbolic link, never into a device: an
// output path that exists and is anything else is refused rather than replaced or written
// into (`-o /dev/sda` as root must not touch the disk).
//
// Invariant: a descriptor these functions return refers to a regular file, checked with
// fstat on the open descriptor itself (so a file swapped after a check cannot slip through).
#pragma once

#include <cstdio>
#include <string>

namespace allocbench {

// "a FIFO", "a character device", "a directory", ... for an lstat/fstat mode.
std::string file_type_name(unsigned mode);

// Opens a regular file for binary reading. On failure returns nullptr and sets `error` to
// what was wrong (without the path), e.g. "not a regular file (a FIFO)".
std::FILE* open_regular_for_reading(const std::string& path, std::string& error);

// Opens for binary writing, creating the file or truncating an existing regular file. On
// failure returns nullptr and sets `error`, e.g. "is a symbolic link; give a regular file".
std::FILE* open_regular_for_writing(const std::string& path, std::string& error);

// Empty when `path` may be read (it opens, and is a regular file); else what is wrong. For
// inputs another library reads by path (a memray capture): checked here first, so a FIFO
// or a device never reaches it.
std::string input_path_problem(const std::string& path);

// Empty when `path` may be written (it does not exist, or is a regular file and not a
// symbolic link); else what is wrong. For writers that write a temporary file and rename it
// over `path`.
std::string output_path_problem(const std::string& path);

}  // namespace allocbench
