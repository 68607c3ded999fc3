// MetricsResponse: a Prometheus scrape of a registry, in the text format.
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   server.Handle("GET", "/metrics", MetricsHandler(registry));
#ifndef TETHER_COMMON_HTTP_METRICS_HANDLER_H_
#define TETHER_COMMON_HTTP_METRICS_HANDLER_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/http/request.h"
#include "common/http/response.h"

namespace tether::http {

// kPrometheusTextContentType is the content type of Prometheus' text
// exposition format 0.0.4.
inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// MetricsResponse collects every metric of `registry`, then of `extra`
// (collectors that build their series at scrape time), now and renders it.
inline HttpResponse MetricsResponse(
    const prometheus::Registry& registry,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& extra = {}) {
  HttpResponse response;
  response.content_type = kPrometheusTextContentType;
  std::vector<prometheus::MetricFamily> families = registry.Collect();
  for (const auto& c : extra) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  response.body = prometheus::TextSerializer().Serialize(families);
  return response;
}

// MetricsHandler returns a handler that serves MetricsResponse(*registry);
// the handler shares ownership of `registry`.
inline std::function<HttpResponse(const HttpRequest&)> MetricsHandler(
    std::shared_ptr<const prometheus::Registry> registry) {
  return
      [registry = std::move(registry)](const HttpRequest&) { return MetricsResponse(*registry); };
}

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_METRICS_HANDLER_H_
