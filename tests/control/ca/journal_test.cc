#include "control/ca/journal.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {
namespace {

std::string TempPath() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/journal-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl + "/state.jsonl";
}

// Replay opens `path` and returns every record it replays.
absl::StatusOr<std::vector<nlohmann::json>> Replay(const std::string& path) {
  std::vector<nlohmann::json> seen;
  auto journal = Journal::Open(path, [&](const nlohmann::json& r) {
    seen.push_back(r);
    return absl::OkStatus();
  });
  if (!journal.ok()) return journal.status();
  return seen;
}

absl::Status AcceptAll(const nlohmann::json&) { return absl::OkStatus(); }

TEST(Journal, AppendedRecordsReplayInOrderAfterSync) {
  std::string path = TempPath();
  {
    auto journal = Journal::Open(path, AcceptAll);
    ASSERT_TRUE(journal.ok()) << journal.status();
    auto first = (*journal)->Append({{"n", 1}});
    auto second = (*journal)->Append({{"n", 2}});
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_LT(*first, *second);
    EXPECT_TRUE((*journal)->Sync(*second).ok());
    EXPECT_TRUE((*journal)->Sync(*first).ok());  // already covered
    EXPECT_EQ((*journal)->records(), 2u);
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto seen = Replay(path);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[0]["n"], 1);
  EXPECT_EQ((*seen)[1]["n"], 2);
}

TEST(Journal, TornLastLineIsCutAndTheNextRecordStartsClean) {
  std::string path = TempPath();
  ASSERT_TRUE(WriteFileAtomic(path, "{\"n\":1}\n{\"n\":").ok());
  {
    auto journal = Journal::Open(path, AcceptAll);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_EQ((*journal)->records(), 1u);
    ASSERT_TRUE((*journal)->Sync(*(*journal)->Append({{"n", 2}})).ok());
  }
  EXPECT_EQ(*ReadFile(path), "{\"n\":1}\n{\"n\":2}\n");
}

TEST(Journal, BadLinesAndRefusedRecordsNameTheLine) {
  std::string path = TempPath();
  ASSERT_TRUE(WriteFileAtomic(path, "{\"n\":1}\n\n[1,2]\n").ok());
  auto journal = Journal::Open(path, AcceptAll);
  EXPECT_EQ(journal.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(journal.status().message(), path + ":3: not a JSON object"))
      << journal.status();
  ASSERT_TRUE(WriteFileAtomic(path, "{\"n\":1}\n{\"n\":2}\n").ok());
  journal = Journal::Open(path, [](const nlohmann::json& r) {
    return r["n"] == 2 ? absl::InvalidArgumentError("two is refused") : absl::OkStatus();
  });
  EXPECT_EQ(journal.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(journal.status().message(), ":2: two is refused"));
}

TEST(Journal, RewriteReplacesTheFileAndAppendsContinueInIt) {
  std::string path = TempPath();
  auto journal = Journal::Open(path, AcceptAll);
  ASSERT_TRUE(journal.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*journal)->Append({{"n", i}}).ok());
  auto pending = (*journal)->Append({{"n", 10}});
  ASSERT_TRUE((*journal)->Rewrite({{{"n", 100}}}).ok());
  EXPECT_TRUE((*journal)->Sync(*pending).ok());  // a sync begun before the rewrite still works
  EXPECT_EQ((*journal)->records(), 1u);
  ASSERT_TRUE((*journal)->Sync(*(*journal)->Append({{"n", 101}})).ok());
  EXPECT_EQ(*ReadFile(path), "{\"n\":100}\n{\"n\":101}\n");
}

TEST(Journal, UnwritableDirectoryIsAnError) {
  auto journal = Journal::Open("/proc/tether-no-such-dir/state.jsonl", AcceptAll);
  EXPECT_FALSE(journal.ok());
  EXPECT_TRUE(absl::StrContains(journal.status().message(), "/proc/tether-no-such-dir"));
}

}  // namespace
}  // namespace tether::control
