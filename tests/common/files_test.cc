// WriteFileAtomic: the new contents replace the old whole, with the exact
// mode, for absolute and relative paths (whose directory is then "." — the
// directory is synced after the rename); errors name the path.
#include "common/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  std::string dir = absl::StrCat(::testing::TempDir(), "/files-XXXXXX");
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

TEST(WriteFileAtomic, ReplacesTheFileWholeWithTheExactMode) {
  const std::string path = TempDir() + "/state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "old", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "new contents", 0600).ok());
  EXPECT_EQ(ReadFile(path).value_or(""), "new contents");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file is left beside it.
  EXPECT_NE(access(absl::StrCat(path, ".tmp.", getpid()).c_str(), F_OK), 0);
}

TEST(WriteFileAtomic, ARelativePathSyncsTheWorkingDirectory) {
  const std::string dir = TempDir();
  char old_cwd[4096];
  ASSERT_NE(getcwd(old_cwd, sizeof(old_cwd)), nullptr);
  ASSERT_EQ(chdir(dir.c_str()), 0);
  const absl::Status st = WriteFileAtomic("relative.txt", "here");
  ASSERT_EQ(chdir(old_cwd), 0);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(ReadFile(dir + "/relative.txt").value_or(""), "here");
}

TEST(WriteFileAtomic, AMissingDirectoryIsAnErrorNamingThePath) {
  const std::string path = TempDir() + "/missing/state.json";
  const absl::Status st = WriteFileAtomic(path, "x");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("missing/state.json"));
}

}  // namespace
}  // namespace tether
