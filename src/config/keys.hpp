// Key tables: each configuration section (a sink's, the store's, a meter's) is described once,
// as a table of keys; the same table parses and validates the section, dumps the effective
// configuration (`kamstrup config check`), writes the section's table in docs/config.md
// (`kamstrup config docs`) and generates the round-trip test that uses every key. Adding a key is
// adding one row: it cannot be parsed but forgotten in the dump or the docs.
//
// A row is made with one of the helpers below (str, boolean, integer, duration, choice, secret,
// url, file_path, text_list) or, for structured values, custom().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/node.hpp"

namespace kamstrup::config {

// What the rest of the file said, for checks that cross sections (an output mapping a register
// its meter does not read, two outputs writing one file).
struct Context {
  struct Meter {
    std::string name;
    // Register names the meter polls; empty when the meter's protocol decides (legacy, iec).
    std::vector<std::string> registers;
    // Display names given in the file: register name -> name (Home Assistant shows them).
    std::vector<std::pair<std::string, std::string>> labels;
    // Reads the meter's own logger: its records may bring registers `registers` does not name.
    bool backfill = false;
  };
  std::vector<Meter> meters;
  [[nodiscard]] const Meter* meter(std::string_view name) const;
  // Records that `key_path` writes `file`; fails when another key already does.
  void claim_file(const std::string& file, const std::string& key_path);

 private:
  std::map<std::string, std::string> files_;  // canonical path -> key path
};

enum class KeyKind : std::uint8_t {
  Text,
  Bool,
  Integer,
  Duration,
  Choice,
  Secret,
  Url,
  Path,
  List,
  Map,
};

// A secret given inline, in a file, in an environment variable or as a systemd credential
// (LoadCredential=: $CREDENTIALS_DIRECTORY/NAME). Dumps show the reference, never the value;
// an inline value is dumped as "********".
struct Secret {
  enum class Source : std::uint8_t { None, Inline, File, Env, Credential };
  Source source = Source::None;
  std::string ref;    // the file, variable or credential name (Inline: "")
  std::string value;  // what the daemon uses
  [[nodiscard]] bool empty() const { return value.empty(); }
  // A value given in the file itself (or by code).
  static Secret of(std::string v) { return {v.empty() ? Source::None : Source::Inline, "", v}; }
  bool operator==(const Secret&) const = default;
};

struct Meta {
  std::string name;
  KeyKind kind = KeyKind::Text;
  std::string doc;          // one sentence or two for docs/config.md (Markdown)
  std::string example;      // a valid YAML value for this key (docs, round-trip test)
  bool required = false;    // no default: the section is invalid without it
  std::string default_doc;  // the default as docs show it; "" = taken from the dump
};

template <class T>
struct Key {
  Meta meta;
  // Reads the key from the section's map into `out` when the map has it (a key may look at its
  // siblings: a secret's _file/_env forms). Throws Error naming the key path.
  std::function<void(const Node& map, const std::string& path, T& out, Context& ctx)> parse;
  // The key's effective value; a Null node leaves it out of the dump.
  std::function<Node(const T&)> dump;
  // Further key names this row owns (a secret's password_file, password_env, ...).
  std::vector<std::string> aliases;
};

template <class T>
struct Table {
  std::string name;  // the section's key ("mqtt"), or its role for lists ("meters[]")
  std::string doc;   // a paragraph before the table in docs/config.md
  std::vector<Key<T>> keys;
  // Checks across keys once all are read (influxdb: v1 or v2); may fill derived fields.
  std::function<void(T& out, const std::string& path, Context& ctx)> check;
};

// --- reading scalars (the same rules for every section) ---

std::string scalar(const Node& n, const std::string& path, std::string_view what = "a value");
bool parse_bool(const Node& n, const std::string& path);
long long parse_integer(const Node& n, const std::string& path, long long min, long long max);
// "500ms", "60s", "15m", "1h", "30d" -> milliseconds; nullopt when malformed or absurdly long.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// The shortest exact spelling: 90000 ms -> "90s", 3600000 -> "1h".
std::string format_duration(std::chrono::milliseconds d);

struct Url {
  std::string scheme;      // lower case
  std::string host;        // without IPv6 brackets
  std::uint16_t port = 0;  // 0 = the scheme's default
  std::string path;        // "" or "/..." (query included)
  std::string userinfo;    // "user:pass" before '@', if any
};
// scheme://[userinfo@]host[:port][/path]; host and port checked. Throws Error at `path`.
Url parse_url(const std::string& text, const std::string& path,
              const std::vector<std::string>& schemes);

enum class PathRule : std::uint8_t {
  Any,               // just not empty
  ExistingFile,      // must be a readable file now (certificates, keys)
  FileInExistingDir  // may not exist yet, but its directory must (database, output files)
};
void check_path(const std::string& file, const std::string& path, PathRule rule);

Secret read_secret(const Node& map, const std::string& section_path, const std::string& key);
std::vector<std::string> secret_key_names(const std::string& key);
Node dump_secret(const Secret& s, const std::string& key);  // a map of the one form used

// --- building rows ---

template <class T>
Key<T> str(std::string name, std::string T::*field, std::string doc, std::string example,
           std::function<void(const std::string&, const std::string& path)> validate = {}) {
  Key<T> k;
  k.meta = {name, KeyKind::Text, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field, validate](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name)) {
      const std::string path = join(p, name);
      out.*field = scalar(*n, path, "a text");
      if (validate) validate(out.*field, path);
    }
  };
  k.dump = [field](const T& c) { return Node::text(c.*field); };
  return k;
}

template <class T>
Key<T> boolean(std::string name, bool T::*field, std::string doc) {
  Key<T> k;
  k.meta = {name, KeyKind::Bool, std::move(doc), "", false, ""};
  k.parse = [name, field](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name)) out.*field = parse_bool(*n, join(p, name));
  };
  k.dump = [field](const T& c) { return Node::text(c.*field ? "true" : "false"); };
  // The example is the opposite of the default. On the heap: a T{} on the stack here makes
  // g++ 12 at -O3 warn (-Wmaybe-uninitialized, a false positive) in its destructor.
  const auto defaults = std::make_unique<T>();
  k.meta.example = ((*defaults).*field) ? "false" : "true";
  return k;
}

template <class T, class I>
Key<T> integer(std::string name, I T::*field, long long min, long long max, std::string doc,
               std::string example) {
  static_assert(std::is_integral_v<I>);
  Key<T> k;
  k.meta = {name, KeyKind::Integer, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field, min, max](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name))
      out.*field = static_cast<I>(parse_integer(*n, join(p, name), min, max));
  };
  k.dump = [field](const T& c) { return Node::text(std::to_string(c.*field)); };
  return k;
}

struct DurationRule {
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max{std::chrono::hours(24 * 365 * 100)};
  // Values must be whole multiples of this (a field kept in seconds cannot hold 1500ms).
  std::chrono::milliseconds resolution{1};
  bool zero_allowed = false;  // "0" (any unit) allowed below min, e.g. "keep forever"
};
// Validates a duration text against the rule; throws Error at `path`.
std::chrono::milliseconds parse_duration_at(const Node& n, const std::string& path,
                                            const DurationRule& rule);

template <class T, class D>
Key<T> duration(std::string name, D T::*field, DurationRule rule, std::string doc,
                std::string example) {
  Key<T> k;
  k.meta = {name, KeyKind::Duration, std::move(doc), std::move(example), false, ""};
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(D(1));
  if (rule.resolution < period) rule.resolution = period;
  k.parse = [name, field, rule](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name))
      out.*field = std::chrono::duration_cast<D>(parse_duration_at(*n, join(p, name), rule));
  };
  k.dump = [field](const T& c) {
    return Node::text(
        format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(c.*field)));
  };
  return k;
}

// One of a fixed set of words, each standing for a value of the field's type (an enum, or an
// optional enum where a word such as "auto" means "none chosen").
template <class T, class V>
Key<T> choice(std::string name, V T::*field, std::vector<std::pair<std::string, V>> words,
              std::string doc, std::string example = "") {
  Key<T> k;
  if (example.empty()) example = words.back().first;
  k.meta = {name, KeyKind::Choice, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field, words](const Node& m, const std::string& p, T& out, Context&) {
    const Node* n = m.find(name);
    if (n == nullptr) return;
    const std::string path = join(p, name);
    const std::string v = scalar(*n, path, "a word");
    std::string list;
    for (const auto& [w, value] : words) {
      if (w == v) {
        out.*field = value;
        return;
      }
      list += (list.empty() ? "" : ", ") + w;
    }
    fail(path, "expected one of " + list + ", got '" + v + "'");
  };
  k.dump = [field, words](const T& c) {
    for (const auto& [w, value] : words) {
      if (value == c.*field) return Node::text(w);
    }
    return Node();
  };
  return k;
}

template <class T>
Key<T> secret(std::string name, Secret T::*field, std::string doc) {
  Key<T> k;
  k.meta = {name, KeyKind::Secret, std::move(doc), "", false, "none"};
  k.parse = [name, field](const Node& m, const std::string& p, T& out, Context&) {
    out.*field = read_secret(m, p, name);
  };
  k.dump = [name, field](const T& c) { return dump_secret(c.*field, name); };
  auto names = secret_key_names(name);
  k.aliases.assign(names.begin() + 1, names.end());
  return k;
}

template <class T>
Key<T> url(std::string name, std::string T::*field, std::vector<std::string> schemes,
           std::string doc, std::string example) {
  Key<T> k;
  k.meta = {name, KeyKind::Url, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field, schemes](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name)) {
      const std::string path = join(p, name);
      out.*field = scalar(*n, path, "a URL");
      parse_url(out.*field, path, schemes);
    }
  };
  k.dump = [field](const T& c) { return Node::text(c.*field); };
  return k;
}

template <class T>
Key<T> file_path(std::string name, std::string T::*field, PathRule rule, std::string doc,
                 std::string example) {
  Key<T> k;
  k.meta = {name, KeyKind::Path, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field, rule](const Node& m, const std::string& p, T& out, Context&) {
    if (const Node* n = m.find(name)) {
      const std::string path = join(p, name);
      out.*field = scalar(*n, path, "a file name");
      if (!(out.*field).empty()) check_path(out.*field, path, rule);
    }
  };
  k.dump = [field](const T& c) { return Node::text(c.*field); };
  return k;
}

template <class T>
Key<T> text_list(std::string name, std::vector<std::string> T::*field, std::string doc,
                 std::string example) {
  Key<T> k;
  k.meta = {name, KeyKind::List, std::move(doc), std::move(example), false, ""};
  k.parse = [name, field](const Node& m, const std::string& p, T& out, Context&) {
    const Node* n = m.find(name);
    if (n == nullptr) return;
    const std::string path = join(p, name);
    if (!n->is_sequence()) fail(path, "expected a list");
    (out.*field).clear();
    for (std::size_t i = 0; i < n->items.size(); ++i)
      (out.*field).push_back(scalar(n->items[i], index(path, i), "a text"));
  };
  k.dump = [field](const T& c) {
    std::vector<Node> items;
    for (const auto& s : c.*field) items.push_back(Node::text(s));
    return Node::list(std::move(items));
  };
  return k;
}

// A {text: text} map (static tags, ...), in file order.
template <class T>
Key<T> text_map(
    std::string name, std::vector<std::pair<std::string, std::string>> T::*field, std::string doc,
    std::string example,
    std::function<void(const std::string& key, const std::string& value, const std::string& path)>
        validate = {}) {
  Key<T> k;
  k.meta = {name, KeyKind::Map, std::move(doc), std::move(example), false, "none"};
  k.parse = [name, field, validate](const Node& m, const std::string& p, T& out, Context&) {
    const Node* n = m.find(name);
    if (n == nullptr) return;
    const std::string path = join(p, name);
    if (!n->is_map()) fail(path, "expected a mapping of name: value");
    (out.*field).clear();
    for (const auto& [key, v] : n->entries) {
      std::string value = scalar(v, join(path, key), "a text");
      if (validate) validate(key, value, join(path, key));
      (out.*field).emplace_back(key, std::move(value));
    }
  };
  k.dump = [field](const T& c) {
    Node n = Node::map();
    for (const auto& [key, v] : c.*field) n.add(key, Node::text(v));
    return n;
  };
  return k;
}

template <class T>
Key<T> custom(Meta meta,
              std::function<void(const Node& value, const std::string& path, T& out, Context& ctx)>
                  parse_value,
              std::function<Node(const T&)> dump) {
  Key<T> k;
  k.meta = std::move(meta);
  const std::string name = k.meta.name;
  k.parse = [name, parse_value](const Node& m, const std::string& p, T& out, Context& ctx) {
    if (const Node* n = m.find(name)) parse_value(*n, join(p, name), out, ctx);
  };
  k.dump = std::move(dump);
  return k;
}

template <class T>
Key<T> required(Key<T> k) {
  k.meta.required = true;
  auto inner = k.parse;
  const std::string name = k.meta.name;
  k.parse = [inner, name](const Node& m, const std::string& p, T& out, Context& ctx) {
    const Node* n = m.find(name);
    if (n == nullptr || n->is_null() || (n->is_scalar() && n->scalar.empty()))
      fail(join(p, name), "required");
    inner(m, p, out, ctx);
  };
  return k;
}

// --- using a table ---

// Every key name a table accepts, in table order (aliases after their key).
template <class T>
std::vector<std::string> key_names(const Table<T>& t) {
  std::vector<std::string> out;
  for (const auto& k : t.keys) {
    out.push_back(k.meta.name);
    out.insert(out.end(), k.aliases.begin(), k.aliases.end());
  }
  return out;
}

void reject_unknown_keys(const Node& map, const std::string& path,
                         const std::vector<std::string>& known);

// Reads a section into `out` (which holds the defaults). `map` must be a Map: an empty section
// ("mqtt:" with nothing after it) is refused by the caller, which knows whether it is optional.
template <class T>
void parse_into(const Node& map, const std::string& path, const Table<T>& t, T& out, Context& ctx) {
  if (!map.is_map()) fail(path, "expected a mapping of keys");
  reject_unknown_keys(map, path, key_names(t));
  for (const auto& k : t.keys) k.parse(map, path, out, ctx);
  if (t.check) t.check(out, path, ctx);
}

template <class T>
T parse_section(const Node& map, const std::string& path, const Table<T>& t, Context& ctx) {
  T out{};
  parse_into(map, path, t, out, ctx);
  return out;
}

template <class T>
Node dump_section(const T& c, const Table<T>& t) {
  Node n = Node::map();
  for (const auto& k : t.keys) {
    Node v = k.dump(c);
    if (v.is_null()) continue;
    if (k.meta.kind == KeyKind::Secret) {
      for (auto& e : v.entries) n.add(std::move(e.first), std::move(e.second));
    } else {
      n.add(k.meta.name, std::move(v));
    }
  }
  return n;
}

// The Markdown table of a section's keys: | key | default | meaning |.
template <class T>
std::string markdown(const Table<T>& t);

std::string markdown_rows(const std::vector<Meta>& rows, const std::vector<std::string>& defaults);

template <class T>
std::string markdown(const Table<T>& t) {
  std::vector<Meta> rows;
  std::vector<std::string> defaults;           // the column's Markdown
  const auto def_ptr = std::make_unique<T>();  // see boolean() for why not on the stack
  const T& def = *def_ptr;
  for (const auto& k : t.keys) {
    rows.push_back(k.meta);
    std::string d = k.meta.default_doc;  // written by the row's author, shown as it is
    if (k.meta.required) {
      d = "required";
    } else if (d.empty()) {
      Node v = k.dump(def);
      std::string y = v.is_null() ? "" : to_yaml(Node::map().add("x", std::move(v))).substr(3);
      while (!y.empty() && y.back() == '\n') y.pop_back();
      d = (y.empty() || y == "\"\"" || y == "[]" || y == "{}") ? "none" : "`" + y + "`";
    }
    defaults.push_back(d);
  }
  return markdown_rows(rows, defaults);
}

}  // namespace kamstrup::config
