// files.cpp — see files.h.
#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace allocbench {

std::string file_type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
  }
  return "not a regular file";
}

namespace {

std::FILE* checked(int fd, const char* fmode, std::string& error) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "not a regular file (" + file_type_name(st.st_mode) + ")";
    close(fd);
    return nullptr;
  }
  std::FILE* file = fdopen(fd, fmode);
  if (file == nullptr) {
    error = std::strerror(errno);
    close(fd);
  }
  return file;
}

}  // namespace

std::FILE* open_regular_for_reading(const std::string& path, std::string& error) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just after.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open: " + std::string(std::strerror(errno));
    return nullptr;
  }
  std::FILE* file = checked(fd, "rb", error);
  if (file != nullptr) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return file;
}

std::FILE* open_regular_for_writing(const std::string& path, std::string& error) {
  error = output_path_problem(path);
  if (!error.empty()) return nullptr;
  // Not O_TRUNC: the descriptor is checked first, then the file emptied.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
  if (fd < 0) {
    error = errno == ELOOP ? "is a symbolic link; give the path of a regular file"
                           : "cannot open for writing: " + std::string(std::strerror(errno));
    return nullptr;
  }
  std::FILE* file = checked(fd, "wb", error);
  if (file == nullptr) return nullptr;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (ftruncate(fd, 0) != 0) {
    error = "cannot truncate: " + std::string(std::strerror(errno));
    std::fclose(file);
    return nullptr;
  }
  return file;
}

std::string input_path_problem(const std::string& path) {
  std::string error;
  std::FILE* file = open_regular_for_reading(path, error);
  if (file != nullptr) std::fclose(file);
  return error;
}

std::string output_path_problem(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return "";  // nothing there yet (or unreachable: open says)
  if (S_ISLNK(st.st_mode)) return "is a symbolic link; give the path of a regular file";
  if (!S_ISREG(st.st_mode)) return "exists and is not a regular file (" + file_type_name(st.st_mode) + ")";
  return "";
}

}  // namespace allocbench
