// The shipped files work: the systemd unit (as CMake configures it for the install) passes
// `systemd-analyze verify` with no complaint (it prints warnings but still exits 0 for many
// mistakes, so stderr must be empty too) and scores an exposure of at most 2.0 in
// `systemd-analyze security --offline=yes`; the installed configuration stops an unedited service
// with the file to edit; the annotated example is valid; debian/changelog carries project()'s
// version; the man pages cover every command; the bash completion completes commands and options.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "../e2e/process.hpp"

using namespace kamstrup::test;

namespace {

const std::string kBin = KAMSTRUP_BINARY;
const std::string kSource = KAMSTRUP_SOURCE_DIR;
const std::string kBuild = KAMSTRUP_BUILD_DIR;
const std::string kManDir = KAMSTRUP_MAN_DIR;  // "" when the man pages are not built

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The configured unit, runnable here: ExecStart= and ExecStartPre= point at the built binary
// (verify checks that executables exist).
std::string built_unit() {
  std::string unit = slurp(kBuild + "/packaging/kamstrup.service");
  EXPECT_NE(unit.find("ExecStart=" KAMSTRUP_INSTALL_BINDIR "/kamstrup run --config"),
            std::string::npos)
      << unit;
  unit = std::regex_replace(unit, std::regex(KAMSTRUP_INSTALL_BINDIR "/kamstrup"), kBin);
  // Without built man pages, verify would report the man: links as missing.
  if (kManDir.empty())
    unit =
        std::regex_replace(unit, std::regex("man:kamstrup\\(1\\) man:kamstrup.yaml\\(5\\) "), "");
  return unit;
}

RunResult verify(const std::string& unit_path) {
  return run({"/usr/bin/systemd-analyze", "verify", unit_path}, "", std::chrono::seconds(60),
             {"MANPATH=" + kManDir});
}

double exposure(const std::string& unit_path) {
  auto r = run({"/usr/bin/systemd-analyze", "security", "--offline=yes", unit_path});
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex(R"(Overall exposure level for \S+: ([0-9.]+))")))
    ADD_FAILURE() << r.out << r.err;
  return m.empty() ? 99.0 : std::stod(m[1].str());
}

TEST(Packaging, SystemdUnitVerifiesCleanly) {
  TempDir dir;
  const std::string unit = built_unit();
  for (const char* directive :
       {"Type=notify", "WatchdogSec=", "ExecStartPre=" KAMSTRUP_BINARY " config check --quiet",
        "RestartPreventExitStatus=2", "Restart=on-abnormal", "DynamicUser=yes",
        "SupplementaryGroups=dialout", "StateDirectory=kamstrup", "ProtectSystem=strict",
        "NoNewPrivileges=yes"}) {
    EXPECT_NE(unit.find(directive), std::string::npos) << directive;
  }
  std::ofstream(dir / "kamstrup.service") << unit;
  auto r = verify(dir / "kamstrup.service");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");

  // The check itself catches a bad directive (guards against a verify that checks nothing).
  std::ofstream(dir / "bad.service")
      << std::regex_replace(unit, std::regex("ProtectSystem=strict"), "ProtectSystem=bogus");
  auto bad = verify(dir / "bad.service");
  EXPECT_NE(bad.err.find("bogus"), std::string::npos);
}

TEST(Packaging, UnitExposureIsAtMostTwo) {
  TempDir dir;
  const std::string unit = built_unit();
  for (const char* directive :
       {"SystemCallFilter=@system-service", "ProtectProc=invisible", "ProcSubset=pid",
        "RestrictAddressFamilies=", "CapabilityBoundingSet=\n", "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw", "DeviceAllow=/dev/ptmx rw"}) {
    EXPECT_NE(unit.find(directive), std::string::npos) << directive;
  }
  std::ofstream(dir / "kamstrup.service") << unit;
  const double score = exposure(dir / "kamstrup.service");
  EXPECT_LE(score, 2.0);
  EXPECT_GT(score, 0.0);
  // Without its system call filter the same unit scores worse: the figure measures the file.
  std::ofstream(dir / "open.service")
      << std::regex_replace(unit, std::regex("SystemCallFilter=[^\n]*\n"), "");
  EXPECT_GT(exposure(dir / "open.service"), score + 1.0);
}

TEST(Packaging, InstalledConfigStopsTheServiceNamingTheFileToEdit) {
  const std::string config = kBuild + "/packaging/kamstrup.yaml";
  auto r = run({kBin, "config", "check", "--quiet", config});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "kamstrup: " + config + ": meters: at least one meter is needed (edit " +
                       config + "; every key is in kamstrup.yaml(5) and config.md)\n");

  // It is the annotated example with its meters commented out: uncommented, it is valid.
  TempDir dir;
  std::string text = slurp(config);
  const auto begin = text.find("\n# meters:");
  ASSERT_NE(begin, std::string::npos) << text;
  const auto end = text.find("\n\n", begin);
  std::string block = text.substr(begin, end - begin);
  block = std::regex_replace(block, std::regex("\n# "), "\n");
  std::ofstream(dir / "edited.yaml") << text.substr(0, begin) + block + text.substr(end);
  auto ok = run({kBin, "config", "check", "--quiet", dir / "edited.yaml"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out + ok.err, "");
  EXPECT_EQ(slurp(dir / "edited.yaml").find("# meters:"), std::string::npos);

  auto missing = run({kBin, "config", "check", "--quiet", dir / "nope.yaml"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(missing.err, "kamstrup: " + (dir / "nope.yaml") +
                             ": cannot read the configuration file (edit " + (dir / "nope.yaml") +
                             "; every key is in kamstrup.yaml(5) and config.md)\n");
}

TEST(Packaging, ExampleConfigIsValid) {
  auto r = run({kBin, "config", "check", kSource + "/kamstrup.example.yaml"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("name: heat"), std::string::npos);
}

TEST(Packaging, DebianChangelogCarriesTheProjectVersion) {
  std::string first_line;
  std::ifstream changelog(kSource + "/debian/changelog");
  std::getline(changelog, first_line);
  EXPECT_EQ(first_line.substr(0, first_line.find(')') + 1),
            "kamstrup-reader (" KAMSTRUP_PROJECT_VERSION ")");
  auto r = run({kBin, "--version"});
  EXPECT_EQ(r.out.rfind("kamstrup " KAMSTRUP_PROJECT_VERSION, 0), 0U) << r.out;
}

std::vector<std::string> commands() {
  auto r = run({kBin, "--help"});
  std::vector<std::string> names;
  std::istringstream in(r.out.substr(r.out.find("Subcommands:")));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ')
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return names;
}

TEST(Packaging, ManPagesCoverEveryCommandAndKey) {
  if (kManDir.empty()) GTEST_FAIL() << "built without man pages (KAMSTRUP_MAN=OFF)";
  const std::string page = slurp(kManDir + "/man1/kamstrup.1");
  const auto names = commands();
  ASSERT_GE(names.size(), 12U);
  for (const auto& c : names) EXPECT_NE(page.find(".SS " + c + "\n"), std::string::npos) << c;
  EXPECT_NE(page.find(".SS config check"), std::string::npos);
  EXPECT_NE(page.find("--port"), std::string::npos);
  // Every key of the store table, as docs/config.md (generated from the key tables) lists it.
  const std::string conf = slurp(kManDir + "/man5/kamstrup.yaml.5");
  for (const char* key : {"retention", "password_credential", "homeassistant", "log_level"})
    EXPECT_NE(conf.find(key), std::string::npos) << key;
  // man renders both without a warning.
  for (const std::string f : {"/man1/kamstrup.1", "/man5/kamstrup.yaml.5"}) {
    auto r = run({"/usr/bin/man", "--warnings", "-l", kManDir + f}, "", std::chrono::seconds(60),
                 {"MANPAGER=cat", "MANWIDTH=100"});
    EXPECT_EQ(r.status, 0) << f;
    EXPECT_EQ(r.err, "") << f;
    EXPECT_GT(r.out.size(), 2000U) << f;
  }
}

// What the completion offers for the words typed so far (the last one being completed).
std::vector<std::string> complete(const std::string& line) {
  const std::string script =
      "source /usr/share/bash-completion/bash_completion\n"
      "source '" +
      kSource +
      "/packaging/kamstrup.bash-completion'\n"
      "COMP_LINE='" +
      line +
      "'; COMP_POINT=${#COMP_LINE}\n"
      "read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
      "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
      "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
      "_kamstrup kamstrup \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
      "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  const std::string dir = kBin.substr(0, kBin.rfind('/'));
  auto r = run({"/bin/bash", "-c", script}, "", std::chrono::seconds(60),
               {"PATH=" + dir + ":/usr/bin:/bin"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<std::string> words;
  std::istringstream in(r.out);
  for (std::string w; std::getline(in, w);)
    if (!w.empty()) words.push_back(w);
  std::sort(words.begin(), words.end());
  return words;
}

TEST(Packaging, BashCompletesCommandsOptionsAndRegisters) {
  EXPECT_EQ(complete("kamstrup re"), (std::vector<std::string>{"read", "registers"}));
  EXPECT_EQ(complete("kamstrup co"), (std::vector<std::string>{"config"}));
  EXPECT_EQ(complete("kamstrup config ch"), (std::vector<std::string>{"check"}));
  EXPECT_EQ(complete("kamstrup read --po"), (std::vector<std::string>{"--port"}));
  EXPECT_EQ(complete("kamstrup --ver"), (std::vector<std::string>{"--version"}));
  const auto registers = complete("kamstrup read --port /dev/ttyUSB0 heat_en");
  EXPECT_NE(std::find(registers.begin(), registers.end(), "heat_energy"), registers.end());
  for (const auto& r : registers) EXPECT_EQ(r.rfind("heat_en", 0), 0U) << r;
  const auto run_options = complete("kamstrup run -");
  EXPECT_NE(std::find(run_options.begin(), run_options.end(), "--config"), run_options.end());
}

}  // namespace
