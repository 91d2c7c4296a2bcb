// Shared pieces of the store tests: temporary directories, sample polls, and raw SQL on the file
// (to check what is really stored, not only what the Store API gives back).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace kamstrup::store {

// Readable test failures (gtest would dump the bytes).
inline void PrintTo(const Value& v, std::ostream* os) {
  *os << "{" << v.register_id << " " << v.name << " '" << v.value << "' '" << v.text << "' '"
      << v.unit << "'}";
}
inline void PrintTo(const Poll& p, std::ostream* os) {
  *os << "{seq " << p.seq << " " << p.meter << " @" << p.time_ms << " " << p.source << " ["
      << p.values.size() << " values:";
  for (const auto& v : p.values) {
    *os << " ";
    PrintTo(v, os);
  }
  *os << "]}";
}

}  // namespace kamstrup::store

namespace kamstrup::store::test {

// A fresh temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kamstrup-store-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The eight default registers of `kamstrup read`, with `tag` worked into every value so that
// polls are told apart by their content.
inline std::vector<Value> eight_values(std::int64_t tag) {
  const std::string t = std::to_string(tag);
  return {
      {60, "heat_energy", t + ".006", "", "MWh"},
      {68, "volume", "1" + t + ".25", "", "m³"},
      {86, "temp1", "-" + t + ".45", "", "°C"},
      {87, "temp2", "0.0", "", "°C"},
      {89, "temp_diff", t + "0000000000000000000000000000000", "", "K"},
      {74, "flow", "0", "", "l/h"},
      {80, "power", "0." + t, "", "kW"},
      {1004, "hour_counter", t, "", "h"},
  };
}

inline Poll make_poll(const std::string& meter, std::int64_t time_ms, std::int64_t tag = 0,
                      const std::string& source = "poll") {
  Poll p;
  p.meter = meter;
  p.time_ms = time_ms;
  p.source = source;
  p.values = eight_values(tag);
  return p;
}

// Raw SQL on the database file, through a connection of its own.
class RawDb {
 public:
  explicit RawDb(const std::string& path, bool create = false) {
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Every row of a query, each column as text ("NULL" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::vector<std::vector<std::string>> out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        row.emplace_back(p == nullptr ? "NULL" : p);
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    return out;
  }
  // The single value of a one-row, one-column query.
  std::string one(const std::string& sql) {
    auto r = rows(sql);
    if (r.size() != 1 || r[0].size() != 1) throw std::runtime_error(sql + ": not one value");
    return r[0][0];
  }
  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kamstrup::store::test
