// Unix sockets for local APIs: addresses, listening with a mode and group
// that the kernel enforces (checked from a child that drops to an
// unprivileged user), stale and live sockets at the path, and connecting.
#include "common/unix_socket.h"

#include <string>

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;
constexpr gid_t kOperators = 4242;  // a group number no account here uses

// A directory every user may enter (the test's own TMPDIR may not be).
class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-unix-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  }
  void TearDown() override { ASSERT_EQ(system(absl::StrCat("rm -rf ", dir_).c_str()), 0); }

  // ConnectsAs: in a child running as `uid` with the supplementary `groups`,
  // ConnectUnix's status code (as an int), or -1 if the child failed.
  int ConnectsAs(const std::string& path, uid_t uid, std::vector<gid_t> groups) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(groups.size(), groups.data()) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
        _exit(100);
      }
      absl::StatusOr<int> fd = ConnectUnix(path);
      _exit(static_cast<int>(fd.status().code()));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 100) {
      return -1;
    }
    return WEXITSTATUS(status);
  }

  std::string dir_;
};

TEST(UnixSocketPath, OnlyUnixAddresses) {
  EXPECT_EQ(UnixSocketPath("unix:/run/tether/control.sock"), "/run/tether/control.sock");
  EXPECT_EQ(UnixSocketPath("unix:///run/tether/control.sock"), "/run/tether/control.sock");
  EXPECT_EQ(UnixSocketPath("unix:relative.sock"), "relative.sock");  // refused when used
  EXPECT_EQ(UnixSocketPath("127.0.0.1:15014"), std::nullopt);
  EXPECT_EQ(UnixSocketPath("[::1]:15014"), std::nullopt);
  EXPECT_EQ(UnixSocketPath(""), std::nullopt);
}

TEST_F(UnixSocketTest, ModeAndGroupDecideWhoMayConnect) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops to another user; run it as root";
  const std::string path = dir_ + "/admin.sock";
  absl::StatusOr<UnixListener> l = ListenUnix(path, {.mode = 0660, .group = kOperators});
  ASSERT_TRUE(l.ok()) << l.status();
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, kOperators);
  // No temporary file is left beside it.
  EXPECT_NE(access(absl::StrCat(dir_, "/.tether-", getpid(), ".sock").c_str(), F_OK), 0);

  EXPECT_EQ(ConnectsAs(path, kNobody, {}), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(ConnectsAs(path, kNobody, {kOperators}), static_cast<int>(absl::StatusCode::kOk));
  absl::StatusOr<int> own = ConnectUnix(path);
  ASSERT_TRUE(own.ok()) << own.status();
  close(*own);

  RemoveUnixSocket(*l);
  close(l->fd);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(UnixSocketTest, PermissionDeniedSaysWhatDecides) {
  const std::string path = dir_ + "/admin.sock";
  absl::StatusOr<UnixListener> l = ListenUnix(path, {.mode = 0600});
  ASSERT_TRUE(l.ok()) << l.status();
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(100);
    absl::StatusOr<int> fd = ConnectUnix(path);
    const std::string message(fd.status().message());
    _exit(message.find("permission denied (the socket file's owner, group and mode decide") !=
                  std::string::npos
              ? 0
              : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(l->fd);
}

TEST_F(UnixSocketTest, AStaleSocketIsReplacedALiveOneIsRefused) {
  const std::string path = dir_ + "/admin.sock";
  absl::StatusOr<UnixListener> first = ListenUnix(path);
  ASSERT_TRUE(first.ok()) << first.status();
  // Another instance while the first serves: refused, the first untouched.
  absl::StatusOr<UnixListener> second = ListenUnix(path);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("another server is listening at unix:" + path));
  absl::StatusOr<int> c = ConnectUnix(path);
  ASSERT_TRUE(c.ok()) << c.status();
  close(*c);
  // The first dies without removing its file: the next one takes the path.
  close(first->fd);
  EXPECT_EQ(ConnectUnix(path).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ConnectUnix(path).status().message(), HasSubstr("nothing is listening there"));
  absl::StatusOr<UnixListener> third = ListenUnix(path);
  ASSERT_TRUE(third.ok()) << third.status();
  // The dead one's cleanup must not remove the file the new one made.
  RemoveUnixSocket(*first);
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  c = ConnectUnix(path);
  ASSERT_TRUE(c.ok()) << c.status();
  close(*c);
  close(third->fd);
}

TEST_F(UnixSocketTest, BadPathsAreRefusedSayingWhy) {
  const std::string file = dir_ + "/not-a-socket";
  ASSERT_EQ(system(absl::StrCat("touch ", file).c_str()), 0);
  absl::StatusOr<UnixListener> l = ListenUnix(file);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("exists and is not a socket"));
  EXPECT_EQ(access(file.c_str(), F_OK), 0);  // left alone

  EXPECT_EQ(ListenUnix("relative.sock").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ListenUnix("relative.sock").status().message(), HasSubstr("not absolute"));
  const std::string long_path = dir_ + "/" + std::string(120, 'x');
  EXPECT_EQ(ListenUnix(long_path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnectUnix(long_path).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(ConnectUnix(dir_ + "/none.sock").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ConnectUnix(dir_ + "/none.sock").status().message(), HasSubstr("no such socket"));

  // Missing parent directories are made.
  absl::StatusOr<UnixListener> nested = ListenUnix(dir_ + "/run/tether/control.sock");
  ASSERT_TRUE(nested.ok()) << nested.status();
  close(nested->fd);
}

TEST(ParseFileMode, OctalModesOnly) {
  EXPECT_EQ(ParseFileMode("0660").value_or(1), 0660u);
  EXPECT_EQ(ParseFileMode("600").value_or(1), 0600u);
  EXPECT_EQ(ParseFileMode("0").value_or(1), 0u);
  for (const char* bad : {"", "999", "0x1b6", "rw-rw----", "01777", "7777", "-1"}) {
    EXPECT_EQ(ParseFileMode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseGroup, NamesAndNumbers) {
  EXPECT_EQ(ParseGroup("4242").value_or(1), 4242u);
  EXPECT_EQ(ParseGroup("root").value_or(1), 0u);
  EXPECT_EQ(ParseGroup("no-such-group-here").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
