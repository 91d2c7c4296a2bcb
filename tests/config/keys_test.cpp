// Reading the key tables' shared values (src/config/keys.cpp).
#include "config/keys.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace kamstrup::config {
namespace {

Node section(const std::string& key, const std::string& value) {
  return Node::map().add(key, Node::text(value));
}

TEST(ConfigSecret, FromTheFirstLineOfAFile) {
  const std::string file = ::testing::TempDir() + "/kamstrup-keys-secret";
  std::ofstream(file) << "s3cret\r\nsecond line\n";
  const Secret s = read_secret(section("password_file", file), "mqtt", "password");
  EXPECT_EQ(s.value, "s3cret");
  EXPECT_EQ(s.ref, file);
  EXPECT_EQ(s.source, Secret::Source::File);
}

// A secret is one short line. A file without a newline in its first 64 KiB (a device such as
// /dev/zero, a binary named by mistake) is an error, not a read without end (found while fuzzing
// the configuration loader, docs/testing.md).
TEST(ConfigSecret, AFileWithoutAShortFirstLineIsAnError) {
  const std::string big = ::testing::TempDir() + "/kamstrup-keys-big";
  std::ofstream(big) << std::string(65537, 'x') << "\n";
  for (const std::string& file : {std::string("/dev/zero"), big}) {
    try {
      (void)read_secret(section("password_file", file), "mqtt", "password");
      ADD_FAILURE() << file << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("mqtt.password_file: '" + file + "'", 0), 0U)
          << e.what();
    }
  }
  std::ofstream(big) << std::string(65536, 'x') << "\n";
  EXPECT_EQ(read_secret(section("password_file", big), "mqtt", "password").value.size(), 65536U);
}

}  // namespace
}  // namespace kamstrup::config
