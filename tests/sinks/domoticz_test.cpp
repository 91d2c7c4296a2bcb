// Domoticz device types: the exact svalue each type gets, against a recording HTTP server.
// Domoticz has no Debian package, so tests/support/http_recorder.hpp (cpp-httplib) stands in for
// it and answers what Domoticz answers to a good update ({"status" : "OK", ...}); every test
// asserts the exact request target.
//
// Sources for the formats (facts carried over, no text): the Domoticz wiki page "Domoticz
// API/JSON URL's" (https://wiki.domoticz.com/Domoticz_API/JSON_URL%27s), section "Update
// devices/sensors", and the Domoticz source that implements it (github.com/domoticz/domoticz):
// hardware/Dummy.cpp (the virtual sensor types and what they create), main/WebServer.cpp and
// main/SQLHelper.cpp (how an svalue is read back and stored), and the dzVents device adapters in
// dzVents/runtime/device-adapters/ (how Domoticz's own scripts build each udevice call).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "../support/http_recorder.hpp"
#include "config/keys.hpp"
#include "config/node.hpp"
#include "sinks/domoticz.hpp"

using kamstrup::sinks::DomoticzConfig;
using kamstrup::sinks::DomoticzDevice;
using kamstrup::sinks::DomoticzSink;
using kamstrup::sinks::DomoticzType;
using kamstrup::store::Poll;
using kamstrup::store::Value;
using kamstrup::test::Recorder;
namespace config = kamstrup::config;

namespace {

const char* kOk = R"({ "status" : "OK", "title" : "Update Device" })";

std::string target(int idx, const std::string& svalue_encoded) {
  return "/json.htm?type=command&param=udevice&idx=" + std::to_string(idx) +
         "&nvalue=0&svalue=" + svalue_encoded;
}

Poll poll(std::int64_t seq, std::vector<Value> values, const std::string& meter = "heat") {
  Poll p;
  p.seq = seq;
  p.meter = meter;
  p.time_ms = 1795443900000 + seq * 60000;
  p.values = std::move(values);
  return p;
}

Value v(const std::string& name, const std::string& value, const std::string& unit) {
  return Value{-1, name, value, "", unit};
}

DomoticzDevice device(const std::string& reg, int idx, DomoticzType type,
                      const std::string& power = "", std::uint32_t divider = 1000) {
  return DomoticzDevice{"heat", reg, idx, type, power, divider};
}

// A sink on the recorder that keeps what it refused.
struct Fixture {
  Recorder rec;
  std::vector<std::pair<std::string, std::string>> notices;  // key, message
  std::unique_ptr<DomoticzSink> sink;

  explicit Fixture(std::vector<DomoticzDevice> devices) {
    rec.answer(200, kOk);
    DomoticzConfig c;
    c.url = rec.url();
    c.devices = std::move(devices);
    sink = std::make_unique<DomoticzSink>(c);
    sink->set_notice_handler([this](const std::string& key, const std::string& message) {
      notices.emplace_back(key, message);
    });
  }
  void deliver(const std::vector<Poll>& polls) {
    sink->deliver(std::span<const Poll>(polls.data(), polls.size()));
  }
  std::vector<std::string> targets() {
    std::vector<std::string> out;
    for (const auto& r : rec.requests()) out.push_back(r.target);
    return out;
  }
};

// ------------------------------------------------------------------ device types

// "Electric (Instant+Counter)" (Dummy.cpp: pTypeGeneral/sTypeKwh). Wiki "Update devices/sensors",
// "Electricity (instant and counter)": svalue=POWER;ENERGY, power in W and the total energy in
// Wh; kwh_device.lua's updateElectricity joins the two with ';', and WebServer.cpp shows the
// counter as ENERGY / 1000 kWh. Sent as whole W and Wh.
TEST(DomoticzTypes, KwhIsPowerAndEnergyInWattAndWattHour) {
  Fixture f({device("heat_energy", 43, DomoticzType::Kwh, "power")});
  f.deliver({poll(1, {v("heat_energy", "55.006", "MWh"), v("power", "8.7", "kW")})});
  // MWh -> Wh and kW -> W are exact.
  EXPECT_EQ(f.targets(), std::vector<std::string>{target(43, "8700%3B55006000")});
  EXPECT_EQ(f.rec.requests().at(0).param("svalue"), "8700;55006000");
  EXPECT_TRUE(f.notices.empty());
}

TEST(DomoticzTypes, KwhFromGcalIsExactAndFromGjRoundedHalfEvenToTheWattHour) {
  Fixture f({device("heat_energy", 43, DomoticzType::Kwh, "power")});
  // 1 Gcal = 1 163 000 Wh exactly.
  f.deliver({poll(1, {v("heat_energy", "12.345", "Gcal"), v("power", "12.3", "kW")})});
  // 1 GJ = 277 777.7… Wh: 1234.567 GJ = 342 935 277.7… Wh -> 342 935 278.
  f.deliver({poll(2, {v("heat_energy", "1234.567", "GJ"), v("power", "0.0", "kW")})});
  // Ties go to the even neighbour: 9000 J = 2.5 Wh -> 2, 5400 J = 1.5 Wh -> 2.
  f.deliver({poll(3, {v("heat_energy", "0.0000090", "GJ"), v("power", "1.5", "W")})});
  f.deliver({poll(4, {v("heat_energy", "0.0000054", "GJ"), v("power", "2.5", "W")})});
  EXPECT_EQ(f.targets(),
            (std::vector<std::string>{target(43, "12300%3B14357235"), target(43, "0%3B342935278"),
                                      target(43, "2%3B2"), target(43, "2%3B2")}));
}

// "Counter" (Dummy.cpp: pTypeRFXMeter/sTypeRFXMeterCount). Wiki "Update devices/sensors",
// "Counter": svalue=COUNTER, the overall total as an integer, shown divided by the counter's
// divider (WebServer.cpp: counter = COUNTER / divider, in kWh for type Energy and m³ for Gas or
// Water; SQLHelper.cpp: the divider defaults, Energy 1000, Gas and Water 100, and a per-device
// divider overrides them).
TEST(DomoticzTypes, CounterIsTheTotalTimesTheDividerAsAnInteger) {
  Fixture f({device("heat_energy", 50, DomoticzType::Counter),
             device("volume", 51, DomoticzType::Counter, "", 100),
             device("input_a", 52, DomoticzType::Counter, "", 1)});
  f.deliver({poll(1, {v("heat_energy", "55.006", "MWh"), v("volume", "1875.565", "m³"),
                      v("input_a", "12345", "")})});
  EXPECT_EQ(f.targets(), (std::vector<std::string>{
                             target(50, "55006000"),  // 55 006 kWh × 1000
                             target(51, "187556"),    // 187 556.5 -> half-even 187 556
                             target(52, "12345"),     // a count, no unit of its own
                         }));
}

// A counter set to type Water in Domoticz (the wiki's "Counter" section: a water counter fed in
// litres needs the divider 1000, the m³ counter shows COUNTER / divider).
TEST(DomoticzTypes, WaterIsLitresByDefaultOrTheCountersDivider) {
  Fixture f({device("volume", 44, DomoticzType::Water),
             device("volume2", 45, DomoticzType::Water, "", 100)});
  f.deliver({poll(1, {v("volume", "1875.56", "m³"), v("volume2", "3.005", "m³")})});
  EXPECT_EQ(f.targets(),
            (std::vector<std::string>{target(44, "1875560"), target(45, "300")}));  // 300.5 -> 300
}

// "Gas" (Dummy.cpp: pTypeP1Gas). gas_device.lua's updateGas: the total in litres (1000 l = 1 m³),
// 145.332 m³ sent as 145332; WebServer.cpp shows it as svalue / 1000 m³ whatever the settings.
TEST(DomoticzTypes, GasIsTheTotalInLitres) {
  Fixture f({device("volume", 46, DomoticzType::Gas)});
  f.deliver({poll(1, {v("volume", "1875.56", "m³")})});
  f.deliver({poll(2, {v("volume", "1875.5605", "m³")})});  // 1 875 560.5 l -> half-even
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(46, "1875560"), target(46, "1875560")}));
}

// "Usage (Electric)" (Dummy.cpp: pTypeUsage/sTypeElectric): svalue is the power in W (WebServer.cpp
// shows "<svalue> Watt"; SQLHelper.cpp keeps it in tenths of a W), so 0.1 W is its resolution.
TEST(DomoticzTypes, UsageIsWattsToATenth) {
  Fixture f({device("power", 47, DomoticzType::Usage)});
  f.deliver({poll(1, {v("power", "8.7", "kW")})});
  f.deliver({poll(2, {v("power", "1.23456", "kW")})});  // 1234.56 W -> 1234.6
  f.deliver({poll(3, {v("power", "0.01225", "kW")})});  // 12.25 W -> half-even 12.2
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(47, "8700.0"), target(47, "1234.6"),
                                                   target(47, "12.2")}));
}

// "Waterflow" (Dummy.cpp: pTypeGeneral/sTypeWaterflow): svalue is the flow in l/min
// (waterflow_device.lua's updateWaterflow, WebServer.cpp shows "<svalue> l/min"). l/h -> l/min
// is a division by 60, rounded half-even to 0.01 l/min (0.6 l/h, finer than the meters' 1 l/h).
TEST(DomoticzTypes, WaterflowIsLitresPerMinuteToAHundredth) {
  Fixture f({device("flow", 48, DomoticzType::Waterflow)});
  f.deliver({poll(1, {v("flow", "1233", "l/h")})});    // 20.55 exactly
  f.deliver({poll(2, {v("flow", "1234", "l/h")})});    // 20.5666… -> 20.57
  f.deliver({poll(3, {v("flow", "1234.5", "l/h")})});  // 20.575 -> half-even 20.58
  f.deliver({poll(4, {v("flow", "1233.9", "l/h")})});  // 20.565 -> half-even 20.56
  f.deliver({poll(5, {v("flow", "1.5", "m³/h")})});    // 25 exactly
  EXPECT_EQ(f.targets(),
            (std::vector<std::string>{target(48, "20.55"), target(48, "20.57"), target(48, "20.58"),
                                      target(48, "20.56"), target(48, "25.00")}));
}

// "Temperature" (Dummy.cpp: pTypeTEMP): svalue=TEMP in °C (wiki "Temperature";
// temperature_device.lua's updateTemperature). Sent exactly as the meter gave it.
// "Custom Sensor" (pTypeGeneral/sTypeCustom): svalue is the number, the unit is the device's
// axis label. "Text" (sTypeTextStatus): svalue is the text shown.
TEST(DomoticzTypes, TemperatureCustomAndTextAreTheExactValue) {
  Fixture f({device("temp1", 49, DomoticzType::Temperature),
             device("heat_energy", 12, DomoticzType::Custom),
             device("volume", 13, DomoticzType::Text), device("clock", 14, DomoticzType::Text)});
  Value clock{1002, "clock", "", "14:25:00", ""};
  f.deliver({poll(1, {v("temp1", "-0.50", "°C"), v("heat_energy", "55.006", "MWh"),
                      v("volume", "1875.56", "m³"), clock})});
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(49, "-0.50"), target(12, "55.006"),
                                                   target(13, "1875.56%20m%C2%B3"),
                                                   target(14, "14%3A25%3A00")}));
}

// ------------------------------------------------------------------ refused values

// A unit no rule converts for the device (it arrives with the meter's reply) is never sent: the
// fan-out gets one notice per poll under the device's config key; the other devices still go.
TEST(DomoticzRefused, UnconvertibleUnitIsNoticedCountedAndNotSentOthersAre) {
  Fixture f(
      {device("volume", 44, DomoticzType::Water), device("temp1", 49, DomoticzType::Temperature),
       device("flow", 48, DomoticzType::Waterflow), device("heat_energy", 12, DomoticzType::Gas)});
  const Poll p1 = poll(1, {v("volume", "1875.56", "kWh"), v("temp1", "20.5", "°C"),
                           v("flow", "12", "ton/h"), v("heat_energy", "7", "m³")});
  f.deliver({p1});
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(49, "20.5"), target(12, "7000")}));
  ASSERT_EQ(f.notices.size(), 2U);
  EXPECT_EQ(f.notices[0].first, "domoticz.devices.heat.volume");
  EXPECT_EQ(f.notices[0].second, "volume in 'kWh' does not convert to m³; not sent");
  EXPECT_EQ(f.notices[1].first, "domoticz.devices.heat.flow");
  EXPECT_EQ(f.notices[1].second, "flow in 'ton/h' does not convert to l/min; not sent");

  // The same poll again (a batch retried after a failure) is not counted twice; a new one is.
  f.rec.clear();
  f.deliver({p1});
  EXPECT_EQ(f.notices.size(), 2U);
  EXPECT_EQ(f.rec.requests().size(), 2U);
  f.deliver({poll(2, {v("volume", "1875.57", "kWh")})});
  EXPECT_EQ(f.notices.size(), 3U);
  EXPECT_EQ(f.rec.requests().size(), 2U);
}

TEST(DomoticzRefused, KwhWithoutItsPowerInThePollIsNotSent) {
  Fixture f({device("heat_energy", 43, DomoticzType::Kwh, "power")});
  f.deliver({poll(1, {v("heat_energy", "55.006", "MWh")})});
  f.deliver({poll(2, {v("heat_energy", "55.006", "MWh"), v("power", "8.7", "kvar")})});
  EXPECT_TRUE(f.targets().empty());
  ASSERT_EQ(f.notices.size(), 2U);
  EXPECT_EQ(f.notices[0].first, "domoticz.devices.heat.heat_energy.power");
  EXPECT_EQ(f.notices[0].second,
            "the poll has no power (a kwh device needs power and energy from one reading); not "
            "sent");
  EXPECT_EQ(f.notices[1].second, "power in 'kvar' does not convert to W; not sent");
}

TEST(DomoticzRefused, TemperatureInAnotherUnitIsNotSent) {
  Fixture f({device("temp1", 49, DomoticzType::Temperature)});
  f.deliver({poll(1, {v("temp1", "293.65", "K")})});
  EXPECT_TRUE(f.targets().empty());
  ASSERT_EQ(f.notices.size(), 1U);
  EXPECT_EQ(f.notices[0].second, "temp1 in 'K' is no °C temperature; not sent");
}

// ------------------------------------------------------------------ backlog

// No timestamp parameter: a backlog sends the newest value per device, and a kwh device's power
// and energy come from the same (the newest) poll.
TEST(DomoticzBacklog, SendsTheNewestPollPerDeviceWithPowerAndEnergyTogether) {
  Fixture f({device("heat_energy", 43, DomoticzType::Kwh, "power"),
             device("volume", 44, DomoticzType::Water),
             device("temp1", 45, DomoticzType::Temperature)});
  f.deliver({poll(1, {v("heat_energy", "55.006", "MWh"), v("power", "8.7", "kW"),
                      v("volume", "1875.56", "m³"), v("temp1", "60.1", "°C")}),
             poll(2, {v("heat_energy", "55.100", "MWh"), v("power", "0.0", "kW"),
                      v("volume", "1875.90", "m³")}),
             poll(3, {v("temp1", "59.8", "°C")})});
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(43, "0%3B55100000"),
                                                   target(44, "1875900"), target(45, "59.8")}));

  // The newest poll lacks the power: that device is refused, not patched with an older power.
  f.rec.clear();
  f.deliver({poll(4, {v("heat_energy", "55.200", "MWh"), v("power", "9.1", "kW")}),
             poll(5, {v("heat_energy", "55.300", "MWh"), v("volume", "1876.00", "m³")})});
  EXPECT_EQ(f.targets(), (std::vector<std::string>{target(44, "1876000")}));
  ASSERT_EQ(f.notices.size(), 1U);
  EXPECT_EQ(f.notices[0].first, "domoticz.devices.heat.heat_energy.power");
}

// ------------------------------------------------------------------ config check

std::string config_error(const std::string& devices_yaml) {
  config::Context ctx;
  ctx.meters = {{"heat", {}, {}}};  // a meter whose protocol decides its registers
  try {
    config::parse_section(config::parse_yaml("url: http://d\ndevices:\n" + devices_yaml, "t"),
                          "domoticz", kamstrup::sinks::domoticz_keys(), ctx);
  } catch (const config::Error& e) {
    return e.what();
  }
  return "";
}

TEST(DomoticzConfig, TypeMustFitTheRegistersQuantity) {
  const std::pair<std::string, std::string> cases[] = {
      {"  heat: {temp1: {idx: 4, type: water}}\n",
       "domoticz.devices.heat.temp1.type: a water device cannot show temp1 (temperature); types "
       "that fit: custom, temperature, text"},
      {"  heat: {volume: {idx: 4, type: kwh, power: power}}\n",
       "domoticz.devices.heat.volume.type: a kwh device cannot show volume (volume); types that "
       "fit: custom, counter, water, gas, text"},
      {"  heat: {heat_energy: {idx: 4, type: kwh, power: flow}}\n",
       "domoticz.devices.heat.heat_energy.power: flow is no power register (flow)"},
      {"  heat: {temp_diff: {idx: 4, type: temperature}}\n",
       "domoticz.devices.heat.temp_diff.type: a temperature device cannot show temp_diff "
       "(temperature_difference); types that fit: custom, text"},
      {"  heat: {flow: {idx: 4, type: usage}}\n",
       "domoticz.devices.heat.flow.type: a usage device cannot show flow (flow); types that fit: "
       "custom, waterflow, text"},
      {"  heat: {power: {idx: 4, type: waterflow}}\n",
       "domoticz.devices.heat.power.type: a waterflow device cannot show power (power); types that "
       "fit: custom, usage, text"},
      {"  heat: {clock: {idx: 4, type: counter}}\n",
       "domoticz.devices.heat.clock.type: a counter device cannot show clock (time); types that "
       "fit: custom, text"},
      {"  heat: {heat_energy: {idx: 4, type: kwh}}\n",
       "domoticz.devices.heat.heat_energy.power: a kwh device needs the register"},
      {"  heat: {volume: {idx: 4, type: gas, divider: 1000}}\n",
       "domoticz.devices.heat.volume.divider: only counter and water devices take a divider"},
      {"  heat: {volume: {idx: 4, type: water, divider: 250}}\n",
       "domoticz.devices.heat.volume.divider: must be a power of ten"},
      {"  heat: {volume: {idx: 4, type: water}, temp1: 4}\n",
       "domoticz.devices.heat.temp1.idx: device idx 4 is already set by "
       "domoticz.devices.heat.volume"},
  };
  for (const auto& [yaml, expected] : cases) {
    const std::string e = config_error(yaml);
    EXPECT_EQ(e.rfind(expected, 0), 0U) << yaml << "got: " << e;
  }
}

TEST(DomoticzConfig, DividerDefaultsAndTheDumpReadsBack) {
  config::Context ctx;
  ctx.meters = {{"heat", {}, {}}};
  const auto& keys = kamstrup::sinks::domoticz_keys();
  const DomoticzConfig c = config::parse_section(
      config::parse_yaml("url: http://d\ndevices:\n  heat:\n"
                         "    heat_energy: {idx: 43, type: kwh, power: power}\n"
                         "    volume: {idx: 44, type: water}\n"
                         "    volume2: {idx: 45, type: counter, divider: 10}\n"
                         "    input_a: {idx: 46, type: counter}\n"
                         "    temp1: 47\n",
                         "t"),
      "domoticz", keys, ctx);
  ASSERT_EQ(c.devices.size(), 5U);
  EXPECT_EQ(c.devices[0], device("heat_energy", 43, DomoticzType::Kwh, "power"));
  EXPECT_EQ(c.devices[1], device("volume", 44, DomoticzType::Water));
  EXPECT_EQ(c.devices[2], device("volume2", 45, DomoticzType::Counter, "", 10));
  EXPECT_EQ(c.devices[3], device("input_a", 46, DomoticzType::Counter, "", 1));
  EXPECT_EQ(c.devices[4], device("temp1", 47, DomoticzType::Custom));

  const std::string dump = config::to_yaml(config::dump_section(c, keys));
  EXPECT_NE(dump.find("divider: 1000"), std::string::npos) << dump;
  const DomoticzConfig again =
      config::parse_section(config::parse_yaml(dump, "dump"), "domoticz", keys, ctx);
  EXPECT_EQ(again, c) << dump;
}

}  // namespace
