// `kamstrup registers`: the catalogue, for people and scripts.
#include <iostream>

#include "cli/common.hpp"
#include "kmp/catalogue.hpp"
#include "meter/report.hpp"

namespace kamstrup::cli {

void add_registers_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("registers", "List the register catalogue: id, name, meaning.");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print a JSON array");
  cmd->callback([json] {
    auto families = [](std::uint8_t f) {
      std::string s;
      if (f & kmp::kHeat) s += "heat,";
      if (f & kmp::kElectricity) s += "electricity,";
      if (f & kmp::kLegacy) s += "legacy,";
      if (!s.empty()) s.pop_back();
      return s;
    };
    if (*json) {
      std::cout << "[";
      bool first = true;
      for (const auto& r : kmp::catalogue()) {
        std::string fam = "[";
        std::string list = families(r.families);
        std::size_t start = 0;
        while (start < list.size()) {
          auto end = list.find(',', start);
          if (end == std::string::npos) end = list.size();
          fam += (fam.size() > 1 ? ", " : "") + text::json_quote(list.substr(start, end - start));
          start = end + 1;
        }
        fam += "]";
        std::cout << (first ? "\n  " : ",\n  ")
                  << "{\"id\": " << (r.id >= 0 ? std::to_string(r.id) : "null")
                  << ", \"name\": " << text::json_quote(r.name)
                  << ", \"description\": " << text::json_quote(r.description)
                  << ", \"quantity\": " << text::json_quote(kmp::quantity_name(r.quantity))
                  << ", \"state_class\": " << text::json_quote(r.state_class)
                  << ", \"families\": " << fam << "}";
        first = false;
      }
      std::cout << "\n]\n";
      return;
    }
    std::printf("%5s  %-27s %-13s %s\n", "id", "name", "families", "description");
    for (const auto& r : kmp::catalogue()) {
      std::string id = r.id >= 0 ? std::to_string(r.id) : "-";
      std::printf("%5s  %-27s %-13s %s\n", id.c_str(), std::string(r.name).c_str(),
                  families(r.families).c_str(), std::string(r.description).c_str());
    }
  });
}

}  // namespace kamstrup::cli
