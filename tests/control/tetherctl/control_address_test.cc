// Which admin address tetherctl uses: --admin, then $TETHER_ADMIN, then the
// default socket; and what it says when a socket cannot be reached.
#include "control/tetherctl/control_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::tetherctl {
namespace {

using ::testing::HasSubstr;

TEST(ResolveControlAdmin, FlagThenEnvironmentThenTheDefaultSocket) {
  EXPECT_EQ(ResolveControlAdmin("127.0.0.1:15014", "unix:/x.sock"), "127.0.0.1:15014");
  EXPECT_EQ(ResolveControlAdmin("", "unix:/x.sock"), "unix:/x.sock");
  EXPECT_EQ(ResolveControlAdmin("", ""), "unix:/run/tether/control.sock");
  EXPECT_EQ(ResolveControlAdmin("", nullptr), "unix:/run/tether/control.sock");
}

TEST(UnreachableHint, SaysWhyForASocketAndAsksForAPort) {
  EXPECT_THAT(UnreachableHint("127.0.0.1:1"),
              HasSubstr("is tether-control running with --admin-listen 127.0.0.1:1?"));
  const std::string none = UnreachableHint("unix:/nonexistent/tether/control.sock");
  EXPECT_THAT(none, HasSubstr("no such socket"));
  EXPECT_THAT(none, HasSubstr("--admin or $TETHER_ADMIN"));
}

}  // namespace
}  // namespace tether::tetherctl
