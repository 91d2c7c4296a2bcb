// The configuration file as a plain tree, independent of the YAML library: every layer that owns
// configuration keys (store, sinks, daemon) reads this, never yaml-cpp directly, so that every
// conversion and every error message goes through one place and names its key path.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kamstrup::config {

// A configuration mistake. what() is "<key path>: <message>" on one line, e.g.
// "meters[1].interval: expected a duration like 500ms, 60s, 15m, 1h or 30d, got 'often'".
// An invalid_argument: sinks built from code (tests) throw the same type as the file's checks.
class Error : public std::invalid_argument {
 public:
  Error(const std::string& path, const std::string& message);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

[[noreturn]] void fail(const std::string& path, const std::string& message);

// "a.b" from "a" and "b"; "b" from "" and "b".
std::string join(const std::string& path, std::string_view key);
// "a[3]"
std::string index(const std::string& path, std::size_t i);

struct Node {
  enum class Kind : std::uint8_t { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  std::string scalar;  // Scalar: the text as written (YAML's null spellings are Null, not text)
  std::vector<Node> items;  // Sequence
  // Map, in file order; keys are unique. (The `{}` lets clang 14 with libstdc++ compile the
  // pair of a still incomplete Node.)
  std::vector<std::pair<std::string, Node>> entries{};
  int line = 0;  // 1-based line in the file; 0 = made here

  [[nodiscard]] bool is_null() const { return kind == Kind::Null; }
  [[nodiscard]] bool is_scalar() const { return kind == Kind::Scalar; }
  [[nodiscard]] bool is_sequence() const { return kind == Kind::Sequence; }
  [[nodiscard]] bool is_map() const { return kind == Kind::Map; }
  // The entry's value, or nullptr when the map has no such key (or this is no map).
  [[nodiscard]] const Node* find(std::string_view key) const;

  static Node text(std::string s);
  static Node list(std::vector<Node> items);
  static Node map();
  // Appends an entry to a Map node (for dumping). Returns *this.
  Node& add(std::string key, Node value);
};

// What makes `text` unfit for a YAML reader, or "" when nothing does: "not UTF-8 text: line L,
// column C (byte 0xNN); save the file as UTF-8" or "a control character: line L, column C (byte
// 0xNN)" (C0 but tab, LF, CR; DEL). yaml-cpp would pass such bytes through, and guesses UTF-16 or
// UTF-32 from the first four bytes.
std::string text_problem(const std::string& text);

// Parses YAML text. Throws Error:
// - "<source>: " + text_problem(text) when that is not empty;
// - "<source>: not valid YAML: line L, column C (after key <path>): <reason>" for a syntax error;
// - "<path>: duplicate key '<k>' (also on line L)" for a key given twice in one mapping, also at
//   the top level (a section written twice);
// - "<path>: mapping keys must be plain text" for a list or map used as a key.
// An empty document is an empty Map.
Node parse_yaml(const std::string& text, const std::string& source);

// Block-style YAML for a tree made by dumping code; scalars are quoted whenever plain YAML
// would read them differently (numbers stay plain only where the text is exactly that number).
std::string to_yaml(const Node& root);

}  // namespace kamstrup::config
