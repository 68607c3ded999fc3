// Journal: an append-only file of JSON lines for state that changes one
// record at a time (join tokens), so a change costs one write and a shared
// fdatasync instead of rewriting the whole state.
//
//   auto journal = Journal::Open(dir + "/join-tokens.jsonl",
//                                [&](const nlohmann::json& r) { return Apply(r); });
//   { MutexLock lock(&mu_); change state; seq = journal->Append(record); }
//   TETHER_RETURN_IF_ERROR(journal->Sync(*seq));   // durable from here on
//   // now and then, with the owner's lock held:
//   journal->Rewrite(live_records);                // compaction
//
// Concurrent Sync calls share one fdatasync (group commit): while one caller
// syncs, the others queue, and the next sync covers all of them. A record is
// durable only after Sync of its sequence number returned OK. Thread-safe;
// the owner serializes Append and Rewrite with its own state changes.
#ifndef TETHER_CONTROL_CA_JOURNAL_H_
#define TETHER_CONTROL_CA_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/mutex.h"

namespace tether::control {

class Journal {
 public:
  // Open replays every record of `path` through `replay` in order, then
  // compacts nothing (the owner decides). A missing file is created (0600).
  // A last line without its newline is a write cut short by a crash: it is
  // dropped and truncated away. A complete line that is not a JSON object,
  // or a record `replay` refuses, is DataLoss naming the path and line.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      std::string path, absl::FunctionRef<absl::Status(const nlohmann::json&)> replay);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Append writes `record` as one line and returns its sequence number (not
  // yet durable: see Sync). On a failed or short write the file is cut back
  // to its previous end; if even that fails, every later Append fails until
  // Rewrite.
  absl::StatusOr<uint64_t> Append(const nlohmann::json& record);

  // Sync returns once every record up to `sequence` is on disk.
  absl::Status Sync(uint64_t sequence);

  // Rewrite atomically replaces the file with `records` (the live state),
  // synced; the journal then continues from them.
  absl::Status Rewrite(const std::vector<nlohmann::json>& records);

  // Records in the file since it was opened or rewritten.
  size_t records() const;
  const std::string& path() const { return path_; }

 private:
  struct File;
  Journal(std::string path, std::shared_ptr<File> file, size_t records, off_t size);

  const std::string path_;
  mutable Mutex mu_;
  std::shared_ptr<File> file_ ABSL_GUARDED_BY(mu_);
  size_t records_ ABSL_GUARDED_BY(mu_);
  off_t size_ ABSL_GUARDED_BY(mu_);  // bytes of complete lines
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;  // sequence of the last Append

  Mutex sync_mu_;  // held across fdatasync; taken before mu_
  uint64_t synced_ ABSL_GUARDED_BY(sync_mu_) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_JOURNAL_H_
