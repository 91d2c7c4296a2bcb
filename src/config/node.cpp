#include "config/node.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>

namespace kamstrup::config {

Error::Error(const std::string& path, const std::string& message)
    : std::invalid_argument(path.empty() ? message : path + ": " + message), path_(path) {}

void fail(const std::string& path, const std::string& message) {
  throw Error(path, message);
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

const Node* Node::find(std::string_view key) const {
  if (kind != Kind::Map) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

Node Node::text(std::string s) {
  Node n;
  n.kind = Kind::Scalar;
  n.scalar = std::move(s);
  return n;
}

Node Node::list(std::vector<Node> items) {
  Node n;
  n.kind = Kind::Sequence;
  n.items = std::move(items);
  return n;
}

Node Node::map() {
  Node n;
  n.kind = Kind::Map;
  return n;
}

Node& Node::add(std::string key, Node value) {
  kind = Kind::Map;
  entries.emplace_back(std::move(key), std::move(value));
  return *this;
}

namespace {

// Aliases let a few lines of YAML stand for an exponentially large tree ("billion laughs");
// a configuration never needs more than this.
constexpr std::size_t kMaxNodes = 100000;
constexpr int kMaxDepth = 64;

// Where `text` stops being UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF) or has a control character YAML does not allow (all of C0 but tab, LF and CR; DEL),
// or npos. `controls_allowed`: only the UTF-8 (for scalars after their escapes). yaml-cpp would
// pass such bytes through, and guesses the encoding from the first four bytes: FE FF / FF FE read
// as a UTF-16 byte order mark, "08 00 00 00" as UTF-32LE text.
std::size_t invalid_utf8(const std::string& text, bool controls_allowed = false) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned c = p[i];
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (!controls_allowed && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)) {
      return i;
    } else if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string::npos;
}

class Converter {
 public:
  Node convert(const YAML::Node& y, const std::string& path, int depth) {
    if (++count_ > kMaxNodes) fail(path, "the file expands to too many values (aliases?)");
    if (depth > kMaxDepth) fail(path, "nested too deeply");
    Node n;
    n.line = y.Mark().line >= 0 ? y.Mark().line + 1 : 0;
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return n;
      case YAML::NodeType::Scalar:
        n.kind = Node::Kind::Scalar;
        n.scalar = y.Scalar();
        check_escapes(n.scalar, path);
        return n;
      case YAML::NodeType::Sequence:
        n.kind = Node::Kind::Sequence;
        for (std::size_t i = 0; i < y.size(); ++i)
          n.items.push_back(convert(y[i], index(path, i), depth + 1));
        return n;
      case YAML::NodeType::Map:
        n.kind = Node::Kind::Map;
        convert_map(y, path, depth, n);
        return n;
    }
    return n;
  }

 private:
  // yaml-cpp 0.7 turns the escapes \_ and \N into the single bytes A0 and 85, not UTF-8.
  static void check_escapes(const std::string& scalar, const std::string& path) {
    if (invalid_utf8(scalar, true) != std::string::npos)
      fail(path,
           "a quoted value whose escapes (\\_ or \\N) are not read as UTF-8: write "
           "the character itself");
  }

  void convert_map(const YAML::Node& y, const std::string& path, int depth, Node& n) {
    std::map<std::string, int> seen;  // key -> line
    for (auto it = y.begin(); it != y.end(); ++it) {
      if (!it->first.IsScalar()) fail(path, "mapping keys must be plain text");
      std::string key = it->first.Scalar();
      check_escapes(key, path);
      int line = it->first.Mark().line + 1;
      auto [pos, fresh] = seen.emplace(key, line);
      if (!fresh) {
        fail(join(path, key), "duplicate key '" + key + "' (first on line " +
                                  std::to_string(pos->second) + ", again on line " +
                                  std::to_string(line) + ")");
      }
      n.entries.emplace_back(key, convert(it->second, join(path, key), depth + 1));
    }
  }

  std::size_t count_ = 0;
};

// The last key written before `line` (1-based), for syntax errors: yaml-cpp names a line and
// column, which is often the line after the real mistake.
std::string key_before(const std::string& text, int line) {
  static const std::regex kKey(R"(^\s*(?:-\s+)?([A-Za-z0-9_.-]+)\s*:)");
  std::istringstream in(text);
  std::string l;
  std::string last;
  for (int i = 1; i <= line && std::getline(in, l); ++i) {
    std::smatch m;
    if (std::regex_search(l, m, kKey)) last = m[1].str() + "' (line " + std::to_string(i) + ")";
  }
  return last.empty() ? "" : " after key '" + last;
}

}  // namespace

std::string text_problem(const std::string& text) {
  const std::size_t at = invalid_utf8(text);
  if (at == std::string::npos) return "";
  const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const std::size_t newline = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
  const std::size_t column = newline == std::string::npos ? at + 1 : at - newline;
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[at]));
  const bool control = static_cast<unsigned char>(text[at]) < 0x80;
  return std::string(control ? "a control character" : "not UTF-8 text") + ": line " +
         std::to_string(line + 1) + ", column " + std::to_string(column) + " (byte " + byte + ")" +
         (control ? "" : "; save the file as UTF-8");
}

Node parse_yaml(const std::string& text, const std::string& source) {
  if (std::string problem = text_problem(text); !problem.empty()) throw Error(source, problem);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line + 1;
    throw Error(source, "not valid YAML: line " + std::to_string(line) + ", column " +
                            std::to_string(e.mark.column + 1) + key_before(text, line) + ": " +
                            e.msg);
  }
  if (!root || root.IsNull()) return Node::map();
  try {
    return Converter().convert(root, "", 0);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws lazily for some malformed input (bad escapes, bad anchors).
    throw Error(source, "not valid YAML: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

namespace {

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::regex kNull("~|null|Null|NULL");
  if (std::regex_match(s, kNull)) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  // "---" and "..." start and end a document when they begin a line.
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return true;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return true;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return true;
  if (s.back() == ':') return true;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string scalar_text(const Node& n) {
  if (n.is_null()) return "null";
  return needs_quotes(n.scalar) ? quoted(n.scalar) : n.scalar;
}

bool is_flat(const Node& n) {
  if (!n.is_sequence()) return false;
  for (const auto& i : n.items) {
    if (!i.is_scalar()) return false;
  }
  return true;
}

void emit(std::ostream& o, const Node& n, int indent);

void emit_value_after_key(std::ostream& o, const Node& v, int indent) {
  if (v.is_map() && !v.entries.empty()) {
    o << "\n";
    emit(o, v, indent + 2);
  } else if (v.is_sequence() && !is_flat(v)) {
    o << "\n";
    emit(o, v, indent + 2);
  } else {
    o << " ";
    emit(o, v, indent);
    o << "\n";
  }
}

void emit(std::ostream& o, const Node& n, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (n.is_map()) {
    if (n.entries.empty()) {
      o << "{}";
      return;
    }
    for (const auto& [k, v] : n.entries) {
      const std::string key = needs_quotes(k) ? quoted(k) : k;
      // YAML reads a longer key written as `key:` as no key at all; `? key` has no limit.
      constexpr std::size_t kMaxImplicitKey = 1024;
      if (key.size() > kMaxImplicitKey) {
        o << pad << "? " << key << "\n" << pad << ":";
      } else {
        o << pad << key << ":";
      }
      emit_value_after_key(o, v, indent);
    }
  } else if (n.is_sequence()) {
    if (is_flat(n)) {
      o << "[";
      for (std::size_t i = 0; i < n.items.size(); ++i) {
        const std::string t = scalar_text(n.items[i]);
        // In flow style a comma or bracket ends a plain scalar, and yaml-cpp (0.7) refuses a
        // '?' or ':' inside one ("unknown token"), although YAML allows them.
        o << (i ? ", " : "")
          << (t.find_first_of(",[]{}?:") != std::string::npos && t.front() != '"'
                  ? quoted(n.items[i].scalar)
                  : t);
      }
      o << "]";
      return;
    }
    for (const auto& item : n.items) {
      if (item.is_map() && !item.entries.empty()) {
        // "- " then the first key on the same line, the rest indented under it.
        std::ostringstream inner;
        emit(inner, item, indent + 2);
        std::string s = inner.str();
        o << pad << "- " << s.substr(static_cast<std::size_t>(indent) + 2);
      } else {
        o << pad << "-";
        emit_value_after_key(o, item, indent);
      }
    }
  } else {
    o << scalar_text(n);
  }
}

}  // namespace

std::string to_yaml(const Node& root) {
  std::ostringstream o;
  emit(o, root, 0);
  return o.str();
}

}  // namespace kamstrup::config
