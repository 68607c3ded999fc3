#include "control/ca/journal.h"

#include <utility>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files.h"

namespace tether::control {

// File owns a descriptor; a Sync in progress keeps the one it started on
// alive across a Rewrite.
struct Journal::File {
  explicit File(int fd) : fd(fd) {}
  ~File() { close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  const int fd;
};

namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::StatusOr<int> OpenForAppend(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot open", path);
  return fd;
}

// WriteAll writes `data` at the end of `fd`, retrying short writes.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    std::string path, absl::FunctionRef<absl::Status(const nlohmann::json&)> replay) {
  std::string data;
  if (absl::StatusOr<std::string> read = ReadFile(path, size_t{1} << 30); read.ok()) {
    data = *std::move(read);
  } else if (!absl::IsNotFound(read.status())) {
    return read.status();
  }
  size_t records = 0;
  size_t line_no = 0;
  size_t start = 0;
  for (size_t end; (end = data.find('\n', start)) != std::string::npos; start = end + 1) {
    ++line_no;
    absl::string_view line(data.data() + start, end - start);
    if (line.empty()) continue;
    nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) {
      return absl::DataLossError(absl::StrCat(path, ":", line_no, ": not a JSON object"));
    }
    if (absl::Status st = replay(record); !st.ok()) {
      return absl::DataLossError(absl::StrCat(path, ":", line_no, ": ", st.message()));
    }
    ++records;
  }
  absl::StatusOr<int> fd = OpenForAppend(path);
  if (!fd.ok()) return fd.status();
  auto file = std::make_shared<File>(*fd);
  // Cut off a line torn by a crash, so the next record starts on a line of
  // its own.
  if (start < data.size() && ftruncate(file->fd, static_cast<off_t>(start)) != 0) {
    return Errno("cannot truncate the torn last line of", path);
  }
  return std::unique_ptr<Journal>(
      new Journal(std::move(path), std::move(file), records, static_cast<off_t>(start)));
}

Journal::Journal(std::string path, std::shared_ptr<File> file, size_t records, off_t size)
    : path_(std::move(path)), file_(std::move(file)), records_(records), size_(size) {}

Journal::~Journal() = default;

absl::StatusOr<uint64_t> Journal::Append(const nlohmann::json& record) {
  std::string line = record.dump();
  line.push_back('\n');
  MutexLock lock(&mu_);
  if (broken_) return absl::UnavailableError(absl::StrCat(path_, ": needs a rewrite"));
  if (!WriteAll(file_->fd, line)) {
    absl::Status st = Errno("cannot append to", path_);
    if (ftruncate(file_->fd, size_) != 0) broken_ = true;
    return st;
  }
  size_ += static_cast<off_t>(line.size());
  ++records_;
  return ++appended_;
}

absl::Status Journal::Sync(uint64_t sequence) {
  MutexLock sync_lock(&sync_mu_);
  if (synced_ >= sequence) return absl::OkStatus();  // a sync while we queued covered it
  std::shared_ptr<File> file;
  uint64_t target;
  {
    MutexLock lock(&mu_);
    file = file_;
    target = appended_;
  }
  if (fdatasync(file->fd) != 0) return Errno("cannot sync", path_);
  synced_ = target;
  return absl::OkStatus();
}

absl::Status Journal::Rewrite(const std::vector<nlohmann::json>& records) {
  std::string contents;
  for (const nlohmann::json& r : records) absl::StrAppend(&contents, r.dump(), "\n");
  MutexLock lock(&mu_);
  if (absl::Status st = WriteFileAtomic(path_, contents, 0600); !st.ok()) return st;
  absl::StatusOr<int> fd = OpenForAppend(path_);
  if (!fd.ok()) {
    broken_ = true;  // the old descriptor points at the replaced file
    return fd.status();
  }
  file_ = std::make_shared<File>(*fd);
  records_ = records.size();
  size_ = static_cast<off_t>(contents.size());
  broken_ = false;
  return absl::OkStatus();
}

size_t Journal::records() const {
  MutexLock lock(&mu_);
  return records_;
}

}  // namespace tether::control
