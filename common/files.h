// Files: small, safe file helpers for state directories.
//
//   TETHER_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.key", pem, 0600));
#ifndef TETHER_COMMON_FILES_H_
#define TETHER_COMMON_FILES_H_

#include <string>
#include <vector>

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

// ReadFile returns the whole file. NotFound if it does not exist; other
// errors are Internal and name the path and errno text. Files larger than
// `max_bytes` are rejected with InvalidArgument.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);

// WriteFileAtomic writes `contents` to a temporary file in the same
// directory with permissions `mode`, fsyncs it, renames it over `path` and
// fsyncs the directory: readers see the old or the new file, never a torn
// one, and once it returns OK the new file survives a crash.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view contents,
                             mode_t mode = 0644);

// RemoveFileDurably unlinks `path` and fsyncs its directory, so that once it
// returns OK the file stays gone after a crash (a removed key must not come
// back). A file that is already gone is OK; other errors name the path.
absl::Status RemoveFileDurably(const std::string& path);

// ListDirectory returns the names (not paths) of the entries of `dir`,
// without "." and "..", in no particular order.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir);

// MakeDirs creates `path` and missing parents with `mode` (like mkdir -p).
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);

bool FileExists(const std::string& path);

}  // namespace tether

#endif  // TETHER_COMMON_FILES_H_
