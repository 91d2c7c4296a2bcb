// The daemon's side of the HTTP server: the options it hands the web layer (from the
// configuration file, Basic auth included) reaching the server (a real one on a loopback port,
// spoken to by cpp-httplib).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../support/servers.hpp"
#include "daemon/http.hpp"

using namespace kamstrup::daemon;

namespace {

// Per process: the asan and default builds may run this at the same time.
std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) /
         ("kamstrup-http-" + std::to_string(::getpid()) + "-" + name);
}

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  auto path = temp_path(name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(HttpServerOptions, ComeFromTheConfigWithLoopbackDefaults) {
  HttpConfig cfg;
  auto o = server_options(cfg);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, cfg.port);
  EXPECT_TRUE(o.auth_user.empty());
  EXPECT_GE(o.max_connections, 201u);  // 200 idle clients must not shut a scrape out
}

TEST(HttpServerOptions, BasicAuthReachesTheServer) {
  auto dir = temp_path("store");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  kamstrup::store::Store st(dir / "k.db");
  Status status;
  Fanout fanout(st, {});
  // From the file as a user writes it: the password from a file (its first line).
  const Config c = parse_config(
      "meters: [{name: heat, port: /dev/null}]\nhttp:\n  listen: "
      "127.0.0.1:" +
          std::to_string(kamstrup::test::support::free_port()) +
          "\n  auth_user: prometheus\n  password_file: " + temp_file("auth", "s3cret\n").string() +
          "\n",
      "t.yaml");
  HttpServer server(*c.http, status, fanout, st);
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  client.set_basic_auth("prometheus", "s3cret");
  res = client.Get("/api/outputs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "[]\n");
  server.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
