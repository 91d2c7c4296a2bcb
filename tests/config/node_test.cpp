// The configuration's plain tree (src/config/node.cpp): what to_yaml writes reads back as the
// same tree. Cases found by fuzz/config_fuzz.cpp (docs/testing.md).
#include "config/node.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// parse_yaml refuses `text` with a message containing `want`.
void expect_refused(const std::string& text, const std::string& want) {
  try {
    parse_yaml(text, "k.yaml");
    ADD_FAILURE() << "accepted: " << want;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
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

// "..." and "---" at the start of a line end or start a YAML document: a value or key that
// begins with them is written quoted (config_fuzz's fifth finding: a document that is "...").
TEST(ConfigNode, DocumentMarkersReadBack) {
  for (const char* t : {"...", "---", "...x", "--- a", "..", "-- -"}) {
    expect_round_trip(Node::text(t));
    expect_round_trip(Node::map().add(t, Node::text(t)));
    expect_round_trip(Node::map().add("k", Node::list({Node::text(t)})));
  }
}

// yaml-cpp 0.7 refuses a '?' or ':' inside a plain scalar of a flow sequence ("unknown token"),
// though YAML allows them: a list of such names is written quoted.
TEST(ConfigNode, QuestionMarksAndColonsInAFlowListReadBack) {
  for (const char* name : {"namemoncme-?heMat", "a?", "x:y", "a: b", "t1:2", "?x", "ok"}) {
    expect_round_trip(Node::map().add("meters", Node::list({Node::text(name), Node::text("b")})));
  }
}

// Found by config_fuzz: a key starting with the bytes FE FF read back, once it was the first
// thing in the written file, as a UTF-16 byte order mark. Text that is not UTF-8 is refused where
// it starts; UTF-8 (with or without its byte order mark) is read as it is.
TEST(ConfigNode, TextThatIsNotUtf8IsRefusedWhereItStarts) {
  struct Case {
    std::string text, where;
  };
  for (const Case& c : std::vector<Case>{
           {"# a comment\n\xfe\xff\xff\xffrs:\n  - a\n", "line 2, column 1 (byte 0xFE)"},
           {"\xff\xfemeters: []\n", "line 1, column 1 (byte 0xFF)"},
           {"name: caf\xe9\n", "line 1, column 10 (byte 0xE9)"},             // Latin-1
           {"a: \xc0\xaf\n", "line 1, column 4 (byte 0xC0)"},                // overlong '/'
           {"a: \xed\xa0\x80\n", "line 1, column 4 (byte 0xED)"},            // a surrogate
           {"a: b\nc: \xf4\x90\x80\x80\n", "line 2, column 4 (byte 0xF4)"},  // > U+10FFFF
           {"a: \xe2\x82\n", "line 1, column 4 (byte 0xE2)"},                // cut short
       }) {
    expect_refused(c.text, "not UTF-8 text: " + c.where);
  }
  // yaml-cpp read a file starting "08 00 00 00" as UTF-32LE (config_fuzz's third finding).
  for (const Case& c : std::vector<Case>{
           {std::string("\x08\0\0\0\0\0meters:\n", 14), "line 1, column 1 (byte 0x08)"},
           {std::string("a: b\nc: d\0\n", 12), "line 2, column 5 (byte 0x00)"},
           {"a: \x1b[31m\n", "line 1, column 4 (byte 0x1B)"},
           {"a: \x7f\n", "line 1, column 4 (byte 0x7F)"},
       }) {
    expect_refused(c.text, "a control character: " + c.where);
  }
  EXPECT_EQ(parse_yaml("a: b\r\nc: 'x\ty'\n", "k.yaml").find("c")->scalar, "x\ty");
  // yaml-cpp 0.7 reads the escape \_ (U+00A0) as the single byte A0 (config_fuzz's fourth finding):
  // refused at the key, not passed on as bytes that are no text.
  for (const char* text : {"listen: \"a\\_b\"\n", "\"k\\_\": 1\n", "a: [\"x\\Ny\"]\n"}) {
    expect_refused(text, "escapes");
  }
  // Escapes that yaml-cpp does turn into UTF-8 or controls stay accepted.
  EXPECT_EQ(parse_yaml("a: \"x\\u00e9\\ty\"\n", "k.yaml").find("a")->scalar, "x\xc3\xa9\ty");
  const Node ok = parse_yaml("\xef\xbb\xbfunit: \"m\xc2\xb3\"\nname: \xf0\x9f\x94\xa5\n", "k.yaml");
  ASSERT_NE(ok.find("unit"), nullptr);
  EXPECT_EQ(ok.find("unit")->scalar, "m\xc2\xb3");
  EXPECT_EQ(ok.find("name")->scalar, "\xf0\x9f\x94\xa5");
}

}  // namespace
}  // namespace kamstrup::config
