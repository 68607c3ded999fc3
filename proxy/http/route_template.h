// RouteTemplate: the route label of an HTTP request, from its method and
// path, with the parts that name one object among many (numbers, UUIDs,
// long hex or token-like segments) replaced by {id}, so that
// "GET /users/1234/orders" and "GET /users/98/orders" are one route.
//
//   RouteTemplate("GET", "/users/1234/orders?limit=5")  // "GET /users/{id}/orders"
//
// The query and fragment are dropped; at most kMaxRouteSegments segments are
// kept (then "/**"); a segment with a character outside RFC 3986's
// unreserved set (after percent-decoding, or a percent sign at all) is {id}
// too, so that a label is always short printable ASCII. A pure function,
// fuzzed (tests/fuzz/http1_observer_fuzz.cc).
#ifndef TETHER_PROXY_HTTP_ROUTE_TEMPLATE_H_
#define TETHER_PROXY_HTTP_ROUTE_TEMPLATE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace tether::proxy {

inline constexpr size_t kMaxRouteSegments = 4;
inline constexpr size_t kMaxSegmentLength = 40;  // longer: {id}

// RouteTemplate: "METHOD /template". `target` is the request target as
// sent: origin form ("/a/b?q"), or absolute form ("http://host/a/b", whose
// path is used); an authority-form (CONNECT) or "*" target is kept as the
// path "*".
std::string RouteTemplate(absl::string_view method, absl::string_view target);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_ROUTE_TEMPLATE_H_
