#include "control/inject/yaml_json.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::control::inject {
namespace {

using ::testing::HasSubstr;

Json One(const std::string& yaml) {
  absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(yaml);
  EXPECT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs.ok() ? docs->size() : 0, 1u);
  return docs.ok() && !docs->empty() ? (*docs)[0] : Json();
}

TEST(YamlJsonTest, ScalarsAreTypedAsKubernetesReadsThem) {
  const Json doc = One(R"(
int: 8080
negative: -3
octal: 0644
hex: 0x1F
float: 1.5
exp: 1e3
yes_plain: yes
on_plain: on
true_plain: true
false_plain: False
null_plain: null
tilde: ~
empty:
quoted_int: "8080"
quoted_false: "false"
single_quoted: 'on'
tagged: !!str 12
version: 1.14.2
cpu: 100m
cron: "* * * * *"
)");
  EXPECT_EQ(doc["int"], 8080);
  EXPECT_EQ(doc["negative"], -3);
  EXPECT_EQ(doc["octal"], 420);
  EXPECT_EQ(doc["hex"], 31);
  EXPECT_EQ(doc["float"], 1.5);
  EXPECT_EQ(doc["exp"], 1000.0);
  EXPECT_EQ(doc["yes_plain"], true);
  EXPECT_EQ(doc["on_plain"], true);
  EXPECT_EQ(doc["true_plain"], true);
  EXPECT_EQ(doc["false_plain"], false);
  EXPECT_TRUE(doc["null_plain"].is_null());
  EXPECT_TRUE(doc["tilde"].is_null());
  EXPECT_TRUE(doc["empty"].is_null());
  EXPECT_EQ(doc["quoted_int"], "8080");
  EXPECT_EQ(doc["quoted_false"], "false");
  EXPECT_EQ(doc["single_quoted"], "on");
  EXPECT_EQ(doc["tagged"], "12");
  EXPECT_EQ(doc["version"], "1.14.2");
  EXPECT_EQ(doc["cpu"], "100m");
  EXPECT_EQ(doc["cron"], "* * * * *");
}

TEST(YamlJsonTest, KeyOrderIsKept) {
  const Json doc = One("zeta: 1\nalpha: 2\nmid: {b: 1, a: 2}\n");
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ(doc["mid"].begin().key(), "b");
}

TEST(YamlJsonTest, EmittedStringsReadBackAsStrings) {
  const std::vector<std::string> tricky = {
      "",
      "true",
      "on",
      "No",
      "y",
      "null",
      "~",
      "8080",
      "0644",
      "0x1F",
      "1e3",
      "1.5",
      "-1",
      "- item",
      "key: value",
      "#comment",
      "a #b",
      "[x]",
      "{y}",
      "*alias",
      "&anchor",
      "!tag",
      "'single'",
      "\"double\"",
      " leading",
      "trailing ",
      "tab\there",
      "%percent",
      "@at",
      "`tick`",
      "multi\nline\n",
      "no newline\nat end",
      "two\n\n",
      "\nleading newline",
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      "ünïcødé",
      "a: b\nc: d\n"};
  Json doc = Json::object();
  Json list = Json::array();
  for (size_t i = 0; i < tricky.size(); ++i) {
    doc["k" + std::to_string(i)] = tricky[i];
    doc[tricky[i].empty() ? "(empty)" : tricky[i]] = static_cast<int>(i);  // as keys too
    list.push_back(tricky[i]);
  }
  doc["list"] = list;
  doc["nested"] = {{"empty_map", Json::object()},
                   {"empty_list", Json::array()},
                   {"null", nullptr},
                   {"bool", false},
                   {"int", -7},
                   {"big", 18446744073709551615u},
                   {"float", 0.25}};
  const std::string yaml = EmitYamlDocuments({doc});
  absl::StatusOr<std::vector<Json>> back = ParseYamlDocuments(yaml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], doc) << yaml;
}

TEST(YamlJsonTest, CertificatesAreLiteralBlocks) {
  const Json doc = {
      {"roots.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}};
  EXPECT_THAT(EmitYamlDocuments({doc}), HasSubstr("roots.pem: |\n  -----BEGIN CERTIFICATE-----\n"));
}

TEST(YamlJsonTest, DocumentsAreSeparated) {
  absl::StatusOr<std::vector<Json>> docs =
      ParseYamlDocuments("a: 1\n---\n---\n# only a comment\n---\nb: 2\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(EmitYamlDocuments(*docs), "a: 1\n---\nb: 2\n");
  EXPECT_EQ(EmitYamlDocuments({}), "");
}

TEST(YamlJsonTest, AliasesAreExpanded) {
  const Json doc = One("base: &b {cpu: 1}\nother: *b\n");
  EXPECT_EQ(doc["other"]["cpu"], 1);
}

TEST(YamlJsonTest, BadInputIsAnError) {
  for (const char* yaml :
       {"a: [1, 2\n", "a: b: c\n", "? [complex, key]\n: v\n", "*undefined\n", "{a: 1}}\n"}) {
    absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(yaml);
    EXPECT_FALSE(docs.ok()) << yaml;
    EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
  }
  EXPECT_FALSE(ParseYamlDocuments(std::string(17 << 20, 'a')).ok());
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += std::string(i * 2, ' ') + "a:\n";
  absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(deep);
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(docs.status().message(), HasSubstr("deeper"));
}

}  // namespace
}  // namespace tether::control::inject
