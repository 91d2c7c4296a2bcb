// The dashboard's files, built into the daemon: web/ (the page, its scripts and style) and the
// chart library from Debian's libjs-dygraphs, read at build time by src/web/embed_assets.cmake.
// Built in rather than read at run time, so the daemon serves exactly the files its tests ran
// with and needs nothing installed beside it (docs/web.md).
#pragma once

#include <span>
#include <string_view>

namespace kamstrup::web {

struct Asset {
  std::string_view name;          // "index.html", "dashboard.js", "dygraph.min.js", ...
  std::string_view content_type;  // "text/javascript; charset=utf-8", ...
  std::string_view bytes;         // the file's content (index.html with its asset version)
};

// Every embedded file, in a fixed order.
std::span<const Asset> assets();

// A hash of all of them: the page loads the others from static/<version>/<name>, so a browser
// can keep them without asking again and a new build changes every URL.
std::string_view assets_version();

}  // namespace kamstrup::web
