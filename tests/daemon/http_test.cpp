// The daemon's side of the HTTP server: the Basic-auth password file, and the options it hands
// the web layer reaching the server (a real one on a loopback port, spoken to by cpp-httplib).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

TEST(HttpSecret, ThePasswordIsTheFileWithoutItsFinalLineBreak) {
  EXPECT_EQ(read_secret_file(temp_file("lf", "s3cret\n")), "s3cret");
  EXPECT_EQ(read_secret_file(temp_file("crlf", "s3cret\r\n")), "s3cret");
  EXPECT_EQ(read_secret_file(temp_file("none", " two words ")), " two words ");
  EXPECT_EQ(read_secret_file(temp_file("two", "a\n\n")), "a\n");  // only the last break goes
}

TEST(HttpSecret, AnEmptyOrMissingFileIsAnErrorNamingIt) {
  const auto empty = temp_file("empty", "\n");
  try {
    read_secret_file(empty);
    FAIL() << "empty password accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(empty.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_secret_file("/nonexistent/kamstrup-password"), std::runtime_error);
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
  HttpConfig cfg;
  cfg.port = 0;
  kamstrup::web::ServerOptions o = server_options(cfg);
  o.auth_user = "prometheus";
  o.auth_password = read_secret_file(temp_file("auth", "s3cret\n"));
  HttpServer server(o, status, fanout, st);
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
