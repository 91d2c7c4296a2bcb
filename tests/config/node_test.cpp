// The configuration's plain tree (src/config/node.cpp): what to_yaml writes reads back as the
// same tree. Cases found by fuzz/config_fuzz.cpp (docs/testing.md).
#include "config/node.hpp"

#include <gtest/gtest.h>

namespace kamstrup::config {
namespace {

bool same_tree(const Node& a, const Node& b) {
  if (a.kind != b.kind || a.scalar != b.scalar || a.items.size() != b.items.size() ||
      a.entries.size() != b.entries.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    if (!same_tree(a.items[i], b.items[i])) return false;
  }
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    if (a.entries[i].first != b.entries[i].first) return false;
    if (!same_tree(a.entries[i].second, b.entries[i].second)) return false;
  }
  return true;
}

void expect_round_trip(const Node& tree) {
  const std::string yaml = to_yaml(tree);
  Node again;
  ASSERT_NO_THROW(again = parse_yaml(yaml, "again")) << yaml.substr(0, 200);
  EXPECT_TRUE(same_tree(again, tree)) << yaml.substr(0, 200);
}

// YAML reads a plain or quoted key of more than 1024 characters as no key at all ("illegal map
// value"): such a key is written in the explicit form.
TEST(ConfigNode, LongKeysReadBack) {
  for (std::size_t n : {1000U, 1022U, 1023U, 1024U, 1025U, 3000U}) {
    const std::string plain(n, 'k');
    const std::string quoted = "#" + std::string(n - 1, 'q');
    Node section = Node::map().add(plain, Node::text("1")).add(quoted, Node::text("2"));
    section.add("list",
                Node::list({Node::map().add(plain, Node::map().add("a", Node::text("b")))}));
    expect_round_trip(Node::map().add("devices", section));
  }
}

// yaml-cpp 0.7 refuses a '?' or ':' inside a plain scalar of a flow sequence ("unknown token"),
// though YAML allows them: a list of such names is written quoted.
TEST(ConfigNode, QuestionMarksAndColonsInAFlowListReadBack) {
  for (const char* name : {"namemoncme-?heMat", "a?", "x:y", "a: b", "t1:2", "?x", "ok"}) {
    expect_round_trip(Node::map().add("meters", Node::list({Node::text(name), Node::text("b")})));
  }
}

}  // namespace
}  // namespace kamstrup::config
