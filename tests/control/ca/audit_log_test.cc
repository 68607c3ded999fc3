// AuditLog's rotation by size: files shift .1 -> .2 ..., the oldest beyond
// the count kept is deleted, no line is split, and a size of 0 never rotates.
#include "control/ca/audit_log.h"

#include <string>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/audit-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

size_t Lines(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return 0;
  return std::count(text->begin(), text->end(), '\n');
}

TEST(AuditLog, RotatesAtTheConfiguredSizeKeepingTheConfiguredNumberOfFiles) {
  FakeClock clock;
  const std::string path = MakeTempDir() + "/audit.jsonl";
  auto log = AuditLog::Open(path, &clock, {.max_bytes = 1000, .max_files = 2});
  ASSERT_TRUE(log.ok()) << log.status();
  // Each line is about 100 bytes: 9 fit in 1000.
  for (int i = 0; i < 50; ++i) (*log)->Record("issued", {{"serial", absl::StrCat("s", i)}});
  EXPECT_EQ((*log)->write_errors(), 0u);
  EXPECT_GE((*log)->rotations(), 3u);
  for (const std::string& p : {path, path + ".1", path + ".2"}) {
    ASSERT_TRUE(Exists(p)) << p;
    absl::StatusOr<std::string> text = ReadFile(p);
    ASSERT_TRUE(text.ok());
    EXPECT_LE(text->size(), 1000u) << p;
    // Whole lines only.
    EXPECT_EQ(text->back(), '\n') << p;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      EXPECT_EQ(line.front(), '{');
      EXPECT_EQ(line.back(), '}');
    }
  }
  EXPECT_FALSE(Exists(path + ".3"));
  // The newest line is in the live file, the one before the rotation in .1.
  EXPECT_NE(ReadFile(path)->find("\"s49\""), std::string::npos);
  const size_t live = Lines(path);
  EXPECT_NE(ReadFile(path + ".1")->find(absl::StrCat("\"s", 49 - live, "\"")), std::string::npos);
}

TEST(AuditLog, SizeOfAnEarlierRunCountsAndZeroNeverRotates) {
  FakeClock clock;
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/audit.jsonl";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(990, 'x') + "\n", 0600).ok());
  {
    auto log = AuditLog::Open(path, &clock, {.max_bytes = 1000, .max_files = 3});
    ASSERT_TRUE(log.ok());
    (*log)->Record("issued", {{"serial", "1"}});
    EXPECT_EQ((*log)->rotations(), 1u);
  }
  EXPECT_EQ(Lines(path), 1u);
  EXPECT_EQ(Lines(path + ".1"), 1u);

  const std::string other = dir + "/unrotated.jsonl";
  auto log = AuditLog::Open(other, &clock, {.max_bytes = 0, .max_files = 3});
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 100; ++i) (*log)->Record("issued", {{"serial", absl::StrCat(i)}});
  EXPECT_EQ((*log)->rotations(), 0u);
  EXPECT_EQ(Lines(other), 100u);
  EXPECT_FALSE(Exists(other + ".1"));
}

TEST(AuditLog, NoFilesKeptDeletesTheFullFile) {
  FakeClock clock;
  const std::string path = MakeTempDir() + "/audit.jsonl";
  auto log = AuditLog::Open(path, &clock, {.max_bytes = 300, .max_files = 0});
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 20; ++i) (*log)->Record("issued", {{"serial", absl::StrCat(i)}});
  EXPECT_GT((*log)->rotations(), 0u);
  EXPECT_FALSE(Exists(path + ".1"));
  EXPECT_LE(ReadFile(path)->size(), 300u);
  EXPECT_FALSE(AuditLog::Open(path, &clock, {.max_bytes = 300, .max_files = -1}).ok());
}

}  // namespace
}  // namespace tether::control
