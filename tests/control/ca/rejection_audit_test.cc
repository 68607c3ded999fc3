// RejectionAudit: N lines per key and interval, then one summary line per
// key when the interval is over (at the next Record or at Flush), on a fake
// clock; keys are independent and bounded in number.
#include "control/ca/rejection_audit.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

class RejectionAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = absl::StrCat(base ? base : "/tmp", "/rej-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl + "/audit.jsonl";
    auto log = AuditLog::Open(path_, &clock_);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
  }

  std::vector<nlohmann::json> Lines() {
    std::vector<nlohmann::json> out;
    absl::StatusOr<std::string> text = ReadFile(path_);
    if (!text.ok()) return out;
    for (absl::string_view l : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      out.push_back(nlohmann::json::parse(l));
    }
    return out;
  }

  FakeClock clock_;
  std::string path_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(RejectionAuditTest, WritesNLinesPerKeyAndIntervalThenASummary) {
  RejectionAudit audit(log_.get(), &clock_,
                       {.lines_per_interval = 3, .interval = absl::Minutes(1)});
  for (int i = 0; i < 1000; ++i) {
    audit.Record("spiffe_id", "spiffe://t/ns/a/sa/a", "rejected", {{"reason", "rate_limited"}});
  }
  audit.Record("spiffe_id", "spiffe://t/ns/b/sa/b", "rejected", {{"reason", "rate_limited"}});
  EXPECT_EQ(audit.suppressed(), 997u);
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["spiffe_id"], "spiffe://t/ns/a/sa/a");
  EXPECT_EQ(lines[0]["reason"], "rate_limited");
  EXPECT_EQ(lines[3]["spiffe_id"], "spiffe://t/ns/b/sa/b");

  audit.Flush();  // the interval is not over: nothing yet
  EXPECT_EQ(Lines().size(), 4u);
  clock_.Advance(absl::Minutes(1));
  audit.Flush();
  lines = Lines();
  ASSERT_EQ(lines.size(), 5u);  // b had nothing held back: no summary
  EXPECT_EQ(lines[4]["event"], kRejectionsSuppressedEvent);
  EXPECT_EQ(lines[4]["spiffe_id"], "spiffe://t/ns/a/sa/a");
  EXPECT_EQ(lines[4]["suppressed"], 997);
  EXPECT_EQ(lines[4]["message"], "suppressed 997 rejection lines");

  // A new interval writes lines again.
  audit.Record("spiffe_id", "spiffe://t/ns/a/sa/a", "rejected", {{"reason", "rate_limited"}});
  EXPECT_EQ(Lines().size(), 6u);
}

TEST_F(RejectionAuditTest, SummaryIsWrittenByTheNextRecordAfterTheInterval) {
  RejectionAudit audit(log_.get(), &clock_,
                       {.lines_per_interval = 1, .interval = absl::Seconds(10)});
  for (int i = 0; i < 5; ++i) audit.Record("peer", "10.0.0.1", "stream_rejected", {});
  clock_.Advance(absl::Seconds(11));
  audit.Record("peer", "10.0.0.1", "stream_rejected", {});
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["event"], kRejectionsSuppressedEvent);
  EXPECT_EQ(lines[1]["peer"], "10.0.0.1");
  EXPECT_EQ(lines[1]["suppressed"], 4);
  EXPECT_EQ(lines[2]["event"], "stream_rejected");
}

TEST_F(RejectionAuditTest, KeysBeyondTheBoundShareOneKey) {
  RejectionAudit audit(log_.get(), &clock_, {.lines_per_interval = 1, .max_keys = 4});
  for (int i = 0; i < 100; ++i) audit.Record("peer", absl::StrCat("10.0.0.", i), "x", {});
  // 4 keys of their own, then "(other)" once.
  EXPECT_EQ(Lines().size(), 5u);
  EXPECT_EQ(audit.suppressed(), 95u);
  clock_.Advance(absl::Minutes(2));
  audit.Flush();
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[5]["peer"], "(other)");
  EXPECT_EQ(lines[5]["suppressed"], 95);
}

}  // namespace
}  // namespace tether::control
