#include "common/http/metrics_handler.h"

#include <memory>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/strings/match.h"

namespace tether::http {
namespace {

TEST(MetricsResponse, SerializesTheRegistryAsPrometheusText) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& errors = prometheus::BuildCounter()
                                    .Name("tether_tls_errors_total")
                                    .Help("TLS handshake failures by reason.")
                                    .Register(*registry)
                                    .Add({{"reason", "bad_certificate"}});
  errors.Increment(3);

  const HttpResponse response = MetricsResponse(*registry);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(absl::StartsWith(response.content_type, "text/plain; version=0.0.4"));
  EXPECT_TRUE(absl::StrContains(response.body,
                                "# HELP tether_tls_errors_total TLS handshake failures by reason."))
      << response.body;
  EXPECT_TRUE(absl::StrContains(response.body, "# TYPE tether_tls_errors_total counter"));
  EXPECT_TRUE(
      absl::StrContains(response.body, R"(tether_tls_errors_total{reason="bad_certificate"} 3)"))
      << response.body;

  // The handler sees later changes: it collects on every request.
  const auto handler = MetricsHandler(registry);
  errors.Increment();
  const HttpResponse later = handler(HttpRequest{});
  EXPECT_TRUE(
      absl::StrContains(later.body, R"(tether_tls_errors_total{reason="bad_certificate"} 4)"))
      << later.body;
}

TEST(MetricsResponse, EmptyRegistry) {
  const prometheus::Registry registry;
  const HttpResponse response = MetricsResponse(registry);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.body.empty());
}

}  // namespace
}  // namespace tether::http
