#include "proxy/http/route_template.h"

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

TEST(RouteTemplateTest, IdentifiersBecomeIdAndTheQueryGoes) {
  EXPECT_EQ(RouteTemplate("GET", "/"), "GET /");
  EXPECT_EQ(RouteTemplate("GET", "/users/1234/orders?limit=5"), "GET /users/{id}/orders");
  EXPECT_EQ(RouteTemplate("DELETE", "/carts/3f2b8c1e-9d4a-4b7e-8f21-0c6d5e4a3b2f"),
            "DELETE /carts/{id}");
  EXPECT_EQ(RouteTemplate("GET", "/blobs/deadbeef01"), "GET /blobs/{id}");
  EXPECT_EQ(RouteTemplate("GET", "/api/v1/health"), "GET /api/v1/health");
  EXPECT_EQ(RouteTemplate("GET", "/static/app.min.js#top"), "GET /static/app.min.js");
  EXPECT_EQ(RouteTemplate("GET", "/t/eyJhbGciOiJIUzI1NiJ9abc"), "GET /t/{id}");
  EXPECT_EQ(RouteTemplate("GET", "/search/caf%C3%A9"), "GET /search/{id}");
}

TEST(RouteTemplateTest, LongPathsAreCutAndOtherFormsKeptShort) {
  EXPECT_EQ(RouteTemplate("GET", "/a/b/c/d/e/f"), "GET /a/b/c/d/**");
  EXPECT_EQ(RouteTemplate("GET", "http://cart.shop:8080/items/7"), "GET /items/{id}");
  EXPECT_EQ(RouteTemplate("GET", "http://cart.shop"), "GET /");
  EXPECT_EQ(RouteTemplate("CONNECT", "db:5432"), "CONNECT *");
  EXPECT_EQ(RouteTemplate("OPTIONS", "*"), "OPTIONS *");
  EXPECT_EQ(RouteTemplate("get\n", "/x"), "???? /x");  // never an odd byte in a label
  EXPECT_EQ(RouteTemplate("GET", std::string("/") + std::string(41, 'a')), "GET /{id}");
}

}  // namespace
}  // namespace tether::proxy
