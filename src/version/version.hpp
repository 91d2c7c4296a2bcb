// The build's version: CMake's project() version, plus `git describe` for development builds
// ("0.2.0" for a build of the tag v0.2.0, "0.2.0+git.3.g1a2b3c4" three commits later,
// "+dirty" with uncommitted changes). Shown by `kamstrup --version`, the HTTP User-Agent and
// kamstrup_build_info.
#pragma once

#include <string_view>

namespace kamstrup {

std::string_view version();
// The commit the build came from ("" when not built from a git checkout).
std::string_view git_revision();

}  // namespace kamstrup
