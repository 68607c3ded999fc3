#include <gtest/gtest.h>

#include "control/ca/authority.h"

namespace tether::control {
namespace {

TEST(RenewAfter, HalfTheLifetimeFromIssuancePlusAtMostTenPercent) {
  const absl::Time issued = absl::FromUnixSeconds(1000000);
  const absl::Time not_after = issued + absl::Minutes(1);
  EXPECT_EQ(RenewAfter(issued, not_after, 0.0), issued + absl::Seconds(30));
  EXPECT_EQ(RenewAfter(issued, not_after, 1.0), issued + absl::Seconds(36));
  EXPECT_EQ(RenewAfter(issued, not_after, 5.0), issued + absl::Seconds(36));
  const absl::Time hour = RenewAfter(issued, issued + absl::Hours(1), 0.5);
  EXPECT_EQ(hour, issued + absl::Minutes(33));
}

}  // namespace
}  // namespace tether::control
