// What an authenticated workload can make the CA hold, attacked over real
// gRPC against a real ControlPlane (the real CertificateAuthority): a client
// that sends 100k CSRs and never reads its answers, more streams than the
// caps allow, and an audit log that would otherwise take a line per refusal
// and never rotate.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "tests/control/ca_test_client.h"
#include "tests/testing/proc_stats.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::HttpGet;

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/bounds-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// MetricValue reads `series` (name with labels, as printed) from the
// Prometheus text; -1 when absent.
double MetricValue(const std::string& text, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    double v;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

std::vector<nlohmann::json> AuditLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return out;
  for (absl::string_view l : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(l));
  }
  return out;
}

class CaStreamBoundsTest : public ::testing::Test {
 protected:
  CaStreamBoundsTest() : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))) {}

  void TearDown() override {
    if (cp_) cp_->Stop();
  }

  void Start(control::ControlPlaneOptions opts) {
    dir_ = MakeTempDir();
    opts.state_dir = dir_;
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }

  std::string JoinToken(const std::string& ns, const std::string& sa) {
    auto minted =
        cp_->tokens()->Create(*pki::SpiffeId::Make("mesh.test", ns, sa), absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    return minted.ok() ? minted->token : "";
  }

  // Joined: a stream welcomed as spiffe://mesh.test/ns/NS/sa/SA.
  std::unique_ptr<CaTestClient> Joined(const std::string& ns, const std::string& sa) {
    auto client = std::make_unique<CaTestClient>(cp_->grpc_port(), roots_pem_);
    EXPECT_TRUE(client->SendHello(JoinToken(ns, sa)));
    absl::StatusOr<std::string> id = client->ReadWelcome();
    EXPECT_TRUE(id.ok()) << id.status();
    return client;
  }

  static std::string Csr(const std::string& id) {
    auto key = pki::GenerateP256Key();
    auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(id));
    return *csr;
  }

  static void ExpectIssued(CaTestClient& client, const std::string& id, uint64_t request_id) {
    ASSERT_TRUE(client.SendCsr(request_id, Csr(id)));
    auto resp = client.Read();
    ASSERT_TRUE(resp && resp->has_certificate()) << (resp ? resp->DebugString() : "ended");
  }

  double Metric(absl::string_view series) {
    return MetricValue(HttpGet(cp_->admin_port(), "/metrics"), series);
  }

  // WaitFor polls `done` until it holds (false after 60 s: the machine is shared).
  template <typename F>
  static bool WaitFor(F done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!done()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
};

TEST_F(CaStreamBoundsTest, ClientThatNeverReadsIsClosedWithResourceExhaustedInBoundedMemory) {
  control::ControlPlaneOptions opts;
  opts.max_queued_answers = 64;
  opts.audit_rejections.lines_per_interval = 10;
  opts.audit_rejections.interval = absl::Minutes(1);
  Start(opts);
  const std::string id = "spiffe://mesh.test/ns/shop/sa/greedy";
  std::unique_ptr<CaTestClient> greedy = Joined("shop", "greedy");
  const std::string csr = Csr(id);
  const int64_t rss_before = testing::RssBytes(getpid());

  // 100k CSRs, and not one answer read. The first 10 are signed (the rate
  // limit's burst, on a clock that does not move), the rest refused as
  // rate_limited: every one an answer queued for a client that never reads.
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i) {
      if (!greedy->SendCsr(i, csr)) return;
      written.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ASSERT_TRUE(WaitFor(
      [&] { return Metric("tether_control_streams_limited_total{limit=\"answer_queue\"}") >= 1; }));
  const int64_t rss_after = testing::RssBytes(getpid());
  const int64_t peak = cp_->streams()->peak_queued_answer_bytes();

  // Now read: what gRPC had in flight, then the status.
  while (greedy->Read()) {
  }
  writer.join();
  grpc::Status st = greedy->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "does not read its answers"))
      << st.error_message();
  EXPECT_TRUE(WaitFor([&] { return cp_->streams()->stream_count() == 0; }));
  EXPECT_EQ(cp_->streams()->queued_answer_bytes(), 0);

  std::cerr << "CSRs written " << written.load() << ", peak queued answer bytes " << peak
            << ", RSS before " << rss_before << " after " << rss_after << " (+"
            << (rss_after - rss_before) / 1024 << " KiB)\n";
  // 64 answers of about 1.5 KiB at most (a certificate chain), whatever the
  // client sends; unbounded, the refusals of 100k CSRs would be ~20 MB.
  EXPECT_LE(peak, 64 * 2048);
  EXPECT_LT(rss_after - rss_before, (int64_t{16} << 20) * testing::kMemoryScale)
      << "RSS grew by " << rss_after - rss_before;

  // The audit log: 10 issued lines, 10 rejected ones, and once the minute is
  // over a single summary of the others, not a line per refusal.
  const double refused =
      Metric("tether_control_certificate_requests_rejected_total{reason=\"rate_limited\"}");
  ASSERT_GT(refused, 10);
  clock_.Advance(absl::Minutes(1));
  cp_->RunMaintenance();
  std::vector<nlohmann::json> lines = AuditLines(dir_ + "/audit.jsonl");
  int issued = 0, rejected = 0, summaries = 0;
  for (const auto& l : lines) {
    if (l["event"] == "issued") ++issued;
    if (l["event"] == "rejected") ++rejected;
    if (l["event"] == "rejections_suppressed") {
      ++summaries;
      EXPECT_EQ(l["spiffe_id"], id);
      EXPECT_EQ(l["suppressed"].get<double>(), refused - 10);
      EXPECT_EQ(l["message"], absl::StrCat("suppressed ", refused - 10, " rejection lines"));
    }
  }
  EXPECT_EQ(issued, 10);
  EXPECT_EQ(rejected, 10);
  EXPECT_EQ(summaries, 1);
  EXPECT_LT(lines.size(), 40u) << "audit lines: " << lines.size();
  EXPECT_EQ(Metric("tether_control_audit_lines_suppressed_total"), refused - 10);
}

TEST_F(CaStreamBoundsTest, StreamCapsRefuseTheExtraStreamAndTheLegitimateOneStillWorks) {
  control::ControlPlaneOptions opts;
  opts.stream_limits.max_streams_per_identity = 2;
  opts.stream_limits.max_streams = 4;
  Start(opts);
  std::unique_ptr<CaTestClient> a1 = Joined("shop", "a");
  std::unique_ptr<CaTestClient> a2 = Joined("shop", "a");
  {
    // A third stream of the same identity: refused after authenticating.
    CaTestClient a3(cp_->grpc_port(), roots_pem_);
    ASSERT_TRUE(a3.SendHello(JoinToken("shop", "a")));
    absl::StatusOr<std::string> refused = a3.ReadWelcome();
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
    EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                  "spiffe://mesh.test/ns/shop/sa/a already has 2"))
        << refused.status();
  }
  // Another identity is served, and the first two streams still are.
  std::unique_ptr<CaTestClient> b = Joined("shop", "b");
  ExpectIssued(*b, "spiffe://mesh.test/ns/shop/sa/b", 1);
  ExpectIssued(*a1, "spiffe://mesh.test/ns/shop/sa/a", 2);

  // The total: a fourth stream fits, a fifth is refused before its Hello is read.
  ASSERT_TRUE(WaitFor([&] { return cp_->streams()->stream_count() == 3; }));
  std::unique_ptr<CaTestClient> c = Joined("shop", "c");
  {
    CaTestClient d(cp_->grpc_port(), roots_pem_);
    d.SendHello(JoinToken("shop", "d"));
    absl::StatusOr<std::string> refused = d.ReadWelcome();
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
    EXPECT_TRUE(absl::StrContains(refused.status().message(), "--max-streams")) << refused.status();
  }
  // A stream that ends makes room for the legitimate proxy.
  EXPECT_TRUE(a2->Finish().ok());
  ASSERT_TRUE(WaitFor([&] { return cp_->streams()->stream_count() == 3; }));
  std::unique_ptr<CaTestClient> d = Joined("shop", "d");
  ExpectIssued(*d, "spiffe://mesh.test/ns/shop/sa/d", 3);

  EXPECT_EQ(Metric("tether_control_streams_limited_total{limit=\"streams_per_identity\"}"), 1);
  EXPECT_EQ(Metric("tether_control_streams_limited_total{limit=\"streams\"}"), 1);
  for (auto* s : {a1.get(), b.get(), c.get(), d.get()}) EXPECT_TRUE(s->Finish().ok());
}

TEST_F(CaStreamBoundsTest, AuditLogRotatesAtTheConfiguredSize) {
  control::ControlPlaneOptions opts;
  opts.audit_rotation.max_bytes = 4096;
  opts.audit_rotation.max_files = 2;
  Start(opts);
  // Eight identities, ten certificates each: about 100 lines of 150-250 bytes.
  for (int n = 0; n < 8; ++n) {
    const std::string sa = absl::StrCat("w", n);
    std::unique_ptr<CaTestClient> w = Joined("shop", sa);
    for (int i = 0; i < 10; ++i) {
      ExpectIssued(*w, absl::StrCat("spiffe://mesh.test/ns/shop/sa/", sa), i);
    }
    EXPECT_TRUE(w->Finish().ok());
  }
  const std::string path = dir_ + "/audit.jsonl";
  size_t total = 0;
  for (const std::string& p : {path, path + ".1", path + ".2"}) {
    absl::StatusOr<std::string> text = ReadFile(p);
    ASSERT_TRUE(text.ok()) << p << ": " << text.status();
    EXPECT_LE(text->size(), 4096u) << p;
    EXPECT_FALSE(AuditLines(p).empty()) << p;  // whole JSON lines (parse throws otherwise)
    total += text->size();
  }
  EXPECT_GT(total, 2 * 4096u - 1024);        // the rotated ones are nearly full
  EXPECT_FALSE(ReadFile(path + ".3").ok());  // the oldest went
  // The newest issuance is in the live file.
  bool last_issued = false;
  for (const auto& l : AuditLines(path)) {
    last_issued |= l["event"] == "issued" && l["spiffe_id"] == "spiffe://mesh.test/ns/shop/sa/w7";
  }
  EXPECT_TRUE(last_issued);
}

}  // namespace
}  // namespace tether
