#include "core/store/sqlite_util.h"

#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace qatwb::store {

void throw_sqlite(sqlite3* db, const std::string& path, const std::string& what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
  int primary = code & 0xff;
  if (primary == SQLITE_NOTADB) throw Error(path + ": not a qatwb run database (" + msg + ")");
  if (primary == SQLITE_CORRUPT)
    throw Error(path + ": the run database is corrupt (" + msg + "); " + what);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    throw Error(path + ": the run database is busy (another writer holds it): " + what);
  throw Error(path + ": " + what + ": " + msg);
}

void exec_sql(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    throw_sqlite(db, path, std::string("cannot run '") + sql + "'");
  }
}

Stmt::Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
    throw_sqlite(db, path, "cannot prepare query");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind_int(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Stmt& Stmt::bind_double(int i, double v) {
  if (std::isnan(v))
    sqlite3_bind_null(stmt_, i);
  else
    sqlite3_bind_double(stmt_, i, v);
  return *this;
}

Stmt& Stmt::bind_text(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  throw_sqlite(db_, path_, "query failed");
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Stmt::col_int(int col) const { return sqlite3_column_int64(stmt_, col); }

double Stmt::col_double(int col) const {
  if (is_null(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, col);
}

std::string Stmt::col_text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

Transaction::Transaction(sqlite3* db, const std::string& path) : db_(db), path_(path) {
  exec_sql(db, path, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  exec_sql(db_, path_, "COMMIT");
  done_ = true;
}

}  // namespace qatwb::store
