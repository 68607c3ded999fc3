#include "common/flags.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(Flags, DashesInNamesBecomeUnderscoresValuesAreKept) {
  const char* argv[] = {"prog", "--state-dir=/a-b", "-trust-domain", "x-y", "init",
                        "--",   "--not-a-flag"};
  auto out = DashesToUnderscores(7, const_cast<char**>(argv));
  EXPECT_EQ(out, (std::vector<std::string>{"prog", "--state_dir=/a-b", "-trust_domain", "x-y",
                                           "init", "--", "--not-a-flag"}));
}

}  // namespace
}  // namespace tether
