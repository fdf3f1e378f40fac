// Thin RAII over the SQLite C API for core/store: prepared statements and transactions whose
// failures become qatwb::Error naming the database file.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace qatwb::store {

[[noreturn]] void throw_sqlite(sqlite3* db, const std::string& path, const std::string& what);
void exec_sql(sqlite3* db, const std::string& path, const char* sql);

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind_int(int i, int64_t v);
  Stmt& bind_double(int i, double v);  // NaN -> NULL
  Stmt& bind_text(int i, const std::string& v);
  Stmt& bind_null(int i);
  bool step();   // true: a row is ready; false: done
  void reset();  // also clears bindings
  void run();    // step to completion, then reset

  bool is_null(int col) const;
  int64_t col_int(int col) const;
  double col_double(int col) const;  // NULL -> NaN
  std::string col_text(int col) const;

 private:
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back on destruction unless committed.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path);
  ~Transaction();
  void commit();

 private:
  sqlite3* db_;
  const std::string& path_;
  bool done_ = false;
};

}  // namespace qatwb::store
