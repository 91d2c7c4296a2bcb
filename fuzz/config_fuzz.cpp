// Any text as the daemon's configuration file, through the real loader
// (kamstrup::daemon::parse_config: yaml-cpp, the plain tree of src/config, every section's key
// table). A mistake comes out as config::Error (std::invalid_argument) and nothing else: no other
// exception, crash, hang or unbounded memory. Two round trips hold:
// - the YAML tree written back by config::to_yaml reads as the same tree (quoting is right);
// - the effective configuration dumped by dump_config parses to the same configuration (the
//   contract in daemon/config.hpp, for secrets given by reference).
// Parsing reads the environment and the files named by *_file keys and looks at the directories
// of output paths, but writes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/node.hpp"
#include "daemon/config.hpp"

namespace {

using kamstrup::config::Node;

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

[[noreturn]] void finding(const char* what, const std::string& text, const std::string& again) {
  std::fprintf(stderr, "config_fuzz: %s\n--- input\n%s\n--- written back\n%s\n", what, text.c_str(),
               again.c_str());
  std::abort();
}

// False when the text is no YAML (parse_config would then fail the same way).
bool tree_round_trip(const std::string& text) {
  Node tree;
  try {
    tree = kamstrup::config::parse_yaml(text, "fuzz");
  } catch (const kamstrup::config::Error&) {
    return false;
  }
  const std::string yaml = kamstrup::config::to_yaml(tree);
  try {
    if (!same_tree(kamstrup::config::parse_yaml(yaml, "again"), tree)) {
      finding("to_yaml changed the tree", text, yaml);
    }
  } catch (const kamstrup::config::Error& e) {
    finding(e.what(), text, yaml);
  }
  return true;
}

void config_round_trip(const std::string& text) {
  using namespace kamstrup::daemon;
  Config c;
  try {
    c = parse_config(text, "fuzz");
  } catch (const kamstrup::config::Error&) {
    return;
  }
  const std::string dump = dump_config(c);
  // An inline secret is dumped masked; the rest must come back as it was.
  if (dump.find("********") != std::string::npos) return;
  try {
    if (!(parse_config(dump, "dump") == c))
      finding("the dump parses to another config", text, dump);
  } catch (const kamstrup::config::Error& e) {
    finding(e.what(), text, dump);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (tree_round_trip(text)) config_round_trip(text);
  return 0;
}
