// The per-port protocol memory (src/cli/remember.cpp) on a real file in a temporary
// XDG_CACHE_HOME: what is kept, what is refused, and that it never throws.
#include "cli/remember.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kamstrup::cli {
namespace {

namespace fs = std::filesystem;

class Memory : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kamstrup-remember-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  [[nodiscard]] nlohmann::json file() const {
    std::ifstream in(protocol_memory_path());
    std::stringstream text;
    text << in.rdbuf();
    return text.str().empty() ? nlohmann::json::object() : nlohmann::json::parse(text.str());
  }
  void write(const std::string& text) const {
    fs::create_directories(dir_ + "/kamstrup");
    std::ofstream(protocol_memory_path()) << text;
  }
  std::string dir_;
};

RememberedProtocol kmp(unsigned baud, unsigned stop_bits) {
  RememberedProtocol r;
  r.protocol = meter::Protocol::Kmp;
  r.line.baud = baud;
  r.line.stop_bits = stop_bits;
  return r;
}

TEST_F(Memory, PathFollowsXdgCacheHome) {
  EXPECT_EQ(protocol_memory_path(), dir_ + "/kamstrup/protocols.json");
}

TEST_F(Memory, KeepsLegacyIecAndKmpAtAnotherLine) {
  EXPECT_TRUE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Legacy, {}}));
  EXPECT_TRUE(remember_protocol("/dev/ttyUSB1", {meter::Protocol::Iec, {}}));
  EXPECT_TRUE(remember_protocol("socket://pi:2001", kmp(9600, 1)));
  EXPECT_EQ(recall_protocol("/dev/ttyUSB0")->protocol, meter::Protocol::Legacy);
  EXPECT_EQ(recall_protocol("/dev/ttyUSB1")->protocol, meter::Protocol::Iec);
  auto k = recall_protocol("socket://pi:2001");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->protocol, meter::Protocol::Kmp);
  EXPECT_EQ(k->line.to_string(), "9600 8N1");
  EXPECT_FALSE(recall_protocol("/dev/ttyUSB9"));
  EXPECT_EQ(file().size(), 3U);
}

TEST_F(Memory, OrdinaryKmpWritesNothingAndErasesAnEntry) {
  EXPECT_FALSE(remember_protocol("/dev/ttyUSB0", kmp(1200, 2)));
  EXPECT_FALSE(fs::exists(protocol_memory_path()));
  ASSERT_TRUE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Legacy, {}}));
  EXPECT_FALSE(remember_protocol("/dev/ttyUSB0", kmp(1200, 2)));
  EXPECT_FALSE(recall_protocol("/dev/ttyUSB0"));
  EXPECT_FALSE(file().contains("/dev/ttyUSB0"));
}

// A meter answering both is read with /#n; one detection in which /#1 missed and the IEC
// readout answered must not demote it for good.
TEST_F(Memory, LegacyIsNotDemotedToIec) {
  ASSERT_TRUE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Legacy, {}}));
  EXPECT_FALSE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Iec, {}}));
  EXPECT_EQ(recall_protocol("/dev/ttyUSB0")->protocol, meter::Protocol::Legacy);
  // Another KMP answer does replace it (the meter was swapped).
  EXPECT_TRUE(remember_protocol("/dev/ttyUSB0", kmp(9600, 1)));
  EXPECT_EQ(recall_protocol("/dev/ttyUSB0")->protocol, meter::Protocol::Kmp);
}

TEST_F(Memory, ABrokenOrHandEditedFileIsNoMemoryAndIsRepaired) {
  write("{ not json");
  EXPECT_FALSE(recall_protocol("/dev/ttyUSB0"));
  EXPECT_TRUE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Legacy, {}}));
  EXPECT_EQ(recall_protocol("/dev/ttyUSB0")->protocol, meter::Protocol::Legacy);

  write(R"({"a": {"protocol": "kmp", "baud": 1234, "format": "8N1"},
            "b": {"protocol": "kmp", "baud": "fast"},
            "c": {"protocol": "smoke signals"},
            "d": ["legacy"],
            "e": {"protocol": "kmp", "baud": 9600, "format": "8X1"}})");
  for (const char* port : {"a", "b", "c", "d", "e"}) EXPECT_FALSE(recall_protocol(port)) << port;
}

// An entry whose protocol is not text is no memory, and is replaced like any other; it used to
// keep an IEC finding from being written at all (found by fuzz/remember_fuzz.cpp).
TEST_F(Memory, AnEntryOfAnotherShapeIsReplacedByIec) {
  write(R"({"/dev/ttyUSB0": {"protocol": 999999}, "/dev/ttyUSB1": {"protocol": ["legacy"]}})");
  for (const char* port : {"/dev/ttyUSB0", "/dev/ttyUSB1"}) {
    EXPECT_FALSE(recall_protocol(port)) << port;
    EXPECT_TRUE(remember_protocol(port, {meter::Protocol::Iec, {}})) << port;
    ASSERT_TRUE(recall_protocol(port)) << port;
    EXPECT_EQ(recall_protocol(port)->protocol, meter::Protocol::Iec) << port;
  }
}

// A baud rate is a whole number: 9600.5 is no memory (it used to be read as 9600), and 1e52 is
// no memory either (converting it to an integer was undefined; found by fuzz/remember_fuzz.cpp).
TEST_F(Memory, ABaudRateThatIsNoWholeNumberIsNoMemory) {
  write(R"({"a": {"protocol": "kmp", "baud": 9600.5, "format": "8N1"},
            "b": {"protocol": "kmp", "baud": 1e52, "format": "8N1"},
            "c": {"protocol": "kmp", "baud": -9600, "format": "8N1"},
            "d": {"protocol": "kmp", "baud": 9600, "format": "8N1"}})");
  for (const char* port : {"a", "b", "c"}) EXPECT_FALSE(recall_protocol(port)) << port;
  ASSERT_TRUE(recall_protocol("d"));
  EXPECT_EQ(recall_protocol("d")->line.to_string(), "9600 8N1");
}

TEST_F(Memory, NeverThrows) {
  // A port name that is not UTF-8 cannot be written as JSON as it is.
  const std::string odd = std::string("/dev/tty") + static_cast<char>(0xFF);
  EXPECT_NO_THROW(remember_protocol(odd, {meter::Protocol::Legacy, {}}));
  // A cache directory that cannot be made: nothing is kept, nothing fails.
  ::setenv("XDG_CACHE_HOME", "/dev/null/cache", 1);
  EXPECT_FALSE(remember_protocol("/dev/ttyUSB0", {meter::Protocol::Legacy, {}}));
  EXPECT_FALSE(recall_protocol("/dev/ttyUSB0"));
}

}  // namespace
}  // namespace kamstrup::cli
