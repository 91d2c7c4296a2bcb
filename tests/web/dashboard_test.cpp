// The dashboard's files as the daemon serves them (src/web/assets.hpp, pages.cpp) over a real
// loopback server: / and every file under static/<version>/ byte for byte as in web/ and in
// Debian's libjs-dygraphs, with their content types and cache headers, and every URL the page
// and its modules refer to answered. What the page does in a browser is tests/browser/.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "web/assets.hpp"
#include "web/pages.hpp"
#include "web/server.hpp"

namespace {

using kamstrup::web::Asset;
using kamstrup::web::assets;
using kamstrup::web::assets_version;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string source_of(std::string_view name) {
  const std::string n(name);
  if (n.rfind("dygraph", 0) == 0) return slurp(std::string(KAMSTRUP_DYGRAPHS_DIR) + "/" + n);
  return slurp(std::string(KAMSTRUP_WEB_DIR) + "/" + n);
}

class Dashboard : public ::testing::Test {
 protected:
  Dashboard() : server_(options(), routes()), client_("127.0.0.1", server_.port()) {}

  static kamstrup::web::ServerOptions options() {
    kamstrup::web::ServerOptions o;
    o.port = 0;
    return o;
  }
  static kamstrup::web::Routes routes() {
    kamstrup::web::Routes r;
    kamstrup::web::add_dashboard(r);
    return r;
  }
  std::string prefix() const { return "/static/" + std::string(assets_version()) + "/"; }

  kamstrup::web::Server server_;
  httplib::Client client_;
};

TEST_F(Dashboard, PageIsServedAtTheRootWithItsAssetVersion) {
  auto res = client_.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
  std::string expected = source_of("index.html");
  const std::string marker = "@ASSETS@";
  ASSERT_NE(expected.find(marker), std::string::npos);
  for (auto at = expected.find(marker); at != std::string::npos; at = expected.find(marker, at))
    expected.replace(at, marker.size(), assets_version());
  EXPECT_EQ(res->body, expected);
  EXPECT_EQ(assets_version().size(), 16U);
}

TEST_F(Dashboard, EveryFileIsServedExactlyWithTypeAndCacheHeaders) {
  std::set<std::string> names;
  for (const Asset& a : assets()) {
    names.insert(std::string(a.name));
    if (a.name == "index.html") continue;
    auto res = client_.Get(prefix() + std::string(a.name));
    ASSERT_TRUE(res) << a.name;
    EXPECT_EQ(res->status, 200) << a.name;
    EXPECT_EQ(res->body, source_of(a.name)) << a.name;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
    const std::string type = res->get_header_value("Content-Type");
    if (a.name.ends_with(".js")) {
      EXPECT_EQ(type, "text/javascript; charset=utf-8") << a.name;
    } else {
      EXPECT_EQ(type, "text/css; charset=utf-8") << a.name;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"index.html", "dashboard.js", "cards.js", "charts.js",
                                          "series.js", "exact.js", "dashboard.css",
                                          "dygraph.min.js", "dygraph.min.css"}));
}

TEST_F(Dashboard, EveryUrlThePageAndItsModulesUseIsAnswered) {
  auto page = client_.Get("/");
  ASSERT_TRUE(page);
  // <link href="static/..."> and <script src="static/...">: relative, so the page also works
  // under a reverse proxy's sub-path.
  const std::regex ref(R"re((?:href|src)="(static/[^"]+)")re");
  int refs = 0;
  for (std::sregex_iterator it(page->body.begin(), page->body.end(), ref), end; it != end; ++it) {
    auto res = client_.Get("/" + (*it)[1].str());
    ASSERT_TRUE(res) << (*it)[1];
    EXPECT_EQ(res->status, 200) << (*it)[1];
    ++refs;
  }
  EXPECT_EQ(refs, 4);  // dygraphs' script and style, the page's style and its main module
  // import ... from './x.js' inside the modules resolve next to them.
  const std::regex import(R"re(from '\./([a-z.]+)')re");
  int imports = 0;
  for (const Asset& a : assets()) {
    const std::string text(a.bytes);
    if (!a.name.ends_with(".js") || a.name.starts_with("dygraph")) continue;
    for (std::sregex_iterator it(text.begin(), text.end(), import), end; it != end; ++it) {
      auto res = client_.Get(prefix() + (*it)[1].str());
      ASSERT_TRUE(res) << a.name << " imports " << (*it)[1];
      EXPECT_EQ(res->status, 200) << a.name << " imports " << (*it)[1];
      ++imports;
    }
  }
  EXPECT_EQ(imports, 4);  // dashboard.js: exact, series, cards, charts
}

TEST_F(Dashboard, OtherVersionsAndUnknownFilesAreNotFound) {
  EXPECT_EQ(client_.Get("/static/0000000000000000/dashboard.js")->status, 404);
  EXPECT_EQ(client_.Get(prefix() + "nothing.js")->status, 404);
  EXPECT_EQ(client_.Get(prefix())->status, 404);
  EXPECT_EQ(client_.Get("/index.html")->status, 404);
}

}  // namespace
