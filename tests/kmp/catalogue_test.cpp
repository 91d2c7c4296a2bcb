#include <gtest/gtest.h>

#include <set>

#include "kmp/catalogue.hpp"

using namespace kamstrup::kmp;

namespace {

TEST(Catalogue, ContractNamesHaveTheirIds) {
  const std::pair<const char*, int> contract[] = {
      {"heat_energy", 60},
      {"cooling_energy", 63},
      {"volume", 68},
      {"hour_counter", 1004},
      {"temp1", 86},
      {"temp2", 87},
      {"temp_diff", 89},
      {"flow", 74},
      {"power", 80},
      {"info", 99},
      {"info_event_counter", 113},
      {"temp1_x_m3", 97},
      {"temp2_x_m3", 110},
      {"serial_number", 1001},
      {"clock", 1002},
      {"date", 1003},
      {"heat_energy_hires", 266},
      {"max_flow_year", 124},
      {"max_flow_year_date", 123},
      {"min_flow_month", 141},
      {"max_flow_month", 139},
      {"energy_in", 1},
      {"energy_out", 2},
      {"power_in", 1023},
      {"voltage_l1", 1054},
      {"current_l1", 1076},
  };
  for (const auto& [name, id] : contract) {
    const RegisterDef* r = find_register(std::string_view(name));
    ASSERT_NE(r, nullptr) << name;
    EXPECT_EQ(r->id, id) << name;
    EXPECT_EQ(find_register(static_cast<std::uint16_t>(id)), r) << name;
  }
}

TEST(Catalogue, NamesAndIdsAreUniqueAndSnakeCase) {
  std::set<std::string_view> names;
  std::set<std::int32_t> ids;
  for (const auto& r : catalogue()) {
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate name " << r.name;
    if (r.id >= 0) {
      EXPECT_TRUE(ids.insert(r.id).second) << "duplicate id " << r.id;
    }
    for (char c : r.name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << r.name;
    }
    EXPECT_FALSE(r.description.empty()) << r.name;
  }
  EXPECT_GE(catalogue().size(), 100U);
}

TEST(Catalogue, NamesAreUnique) {
  std::set<std::string_view> names;
  for (const auto& r : catalogue()) EXPECT_TRUE(names.insert(r.name).second) << r.name;
}

TEST(Catalogue, QuantitiesAndStateClasses) {
  const RegisterDef* e = find_register(std::string_view("heat_energy"));
  EXPECT_EQ(e->quantity, Quantity::Energy);
  EXPECT_EQ(find_register(std::string_view("volume"))->quantity, Quantity::Volume);
  EXPECT_EQ(find_register(std::string_view("flow"))->quantity, Quantity::Flow);
  EXPECT_EQ(find_register(std::string_view("temp_diff"))->quantity,
            Quantity::TemperatureDifference);
  EXPECT_EQ(quantity_name(Quantity::TemperatureDifference), "temperature_difference");
  EXPECT_EQ(parse_quantity("volume_temperature"), Quantity::VolumeTemperature);
  EXPECT_EQ(e->state_class, "total_increasing");
  EXPECT_EQ(find_register(std::string_view("temp1"))->state_class, "measurement");
}

TEST(Catalogue, DefaultReadList) {
  std::vector<std::string_view> names(default_register_names().begin(),
                                      default_register_names().end());
  EXPECT_EQ(names, (std::vector<std::string_view>{"heat_energy", "volume", "temp1", "temp2",
                                                  "temp_diff", "flow", "power", "hour_counter"}));
}

TEST(Catalogue, RegisterReferences) {
  EXPECT_EQ(parse_register_ref("heat_energy"), 60);
  EXPECT_EQ(parse_register_ref("60"), 60);
  EXPECT_EQ(parse_register_ref("0x3C"), 60);
  EXPECT_EQ(parse_register_ref("0x0123"), 0x123);
  EXPECT_EQ(parse_register_ref("65535"), 65535);
  EXPECT_FALSE(parse_register_ref("65536").has_value());
  EXPECT_FALSE(parse_register_ref("heat_energi").has_value());
  EXPECT_FALSE(parse_register_ref("0x").has_value());
  EXPECT_FALSE(parse_register_ref("").has_value());
  EXPECT_FALSE(parse_register_ref("-1").has_value());
  // The name outputs and `config check` give an uncatalogued id reads back as that id.
  EXPECT_EQ(parse_register_ref(register_name(0x0600)), 0x0600);
  EXPECT_EQ(parse_register_ref("register_1536"), 1536);
  EXPECT_FALSE(parse_register_ref("register_").has_value());
  EXPECT_FALSE(parse_register_ref("register_0x10").has_value());
  EXPECT_FALSE(parse_register_ref("register_70000").has_value());
  auto s = suggest_registers("heat_energi");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0], "heat_energy");
  auto t = suggest_registers("temp");
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t[0].substr(0, 4), "temp");
  EXPECT_EQ(register_name(60), "heat_energy");
  EXPECT_EQ(register_name(0x123), "register_291");
}

}  // namespace
