// Tags and notes on runs (schema v3): written by people (`qatwb runs tag/note`, the GUI's runs
// table), never by ingest, so re-ingesting a run keeps them.
#include <algorithm>
#include <cstdio>

#include "core/store/sqlite_util.h"
#include "core/store/store.h"
#include "core/util/error.h"

namespace qatwb::store {

namespace {

constexpr size_t kMaxTagLength = 64;

void require_run(const Store& store, int64_t run) {
  if (!store.run_info(run)) throw Error(store.path() + ": no run with id " + std::to_string(run));
}

std::vector<std::string> checked(const std::vector<std::string>& tags) {
  for (const auto& t : tags) check_tag(t);
  std::vector<std::string> out = tags;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

void check_tag(const std::string& tag) {
  if (tag.empty()) throw Error("tag: empty (a tag is 1-64 characters)");
  if (tag.size() > kMaxTagLength)
    throw Error("tag '" + tag.substr(0, 20) + "...': longer than " + std::to_string(kMaxTagLength) +
                " characters");
  for (unsigned char c : tag) {
    if (c <= 0x20 || c == 0x7f || c == ',') {
      char code[8];
      std::snprintf(code, sizeof code, "0x%02x", c);
      throw Error("tag '" + tag + "': no spaces, commas or control characters (found " +
                  (c == ' '   ? std::string("a space")
                   : c == ',' ? std::string("a comma")
                              : code) +
                  ")");
    }
  }
}

std::vector<std::string> split_tags(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

void Store::add_tags(int64_t run, const std::vector<std::string>& tags) {
  const auto list = checked(tags);
  require_run(*this, run);
  Transaction tx(db_, path_);
  Stmt s(db_, path_, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES(?1, ?2)");
  for (const auto& t : list) {
    s.bind_int(1, run).bind_text(2, t).run();
  }
  tx.commit();
}

void Store::remove_tags(int64_t run, const std::vector<std::string>& tags) {
  require_run(*this, run);
  Transaction tx(db_, path_);
  Stmt s(db_, path_, "DELETE FROM run_tags WHERE run = ?1 AND tag = ?2");
  for (const auto& t : tags) {
    s.bind_int(1, run).bind_text(2, t).run();
  }
  tx.commit();
}

void Store::set_tags(int64_t run, const std::vector<std::string>& tags) {
  const auto list = checked(tags);
  require_run(*this, run);
  Transaction tx(db_, path_);
  {
    Stmt del(db_, path_, "DELETE FROM run_tags WHERE run = ?1");
    del.bind_int(1, run).run();
  }
  Stmt s(db_, path_, "INSERT INTO run_tags(run, tag) VALUES(?1, ?2)");
  for (const auto& t : list) {
    s.bind_int(1, run).bind_text(2, t).run();
  }
  tx.commit();
}

std::vector<std::string> Store::tags(int64_t run) const {
  require_run(*this, run);
  Stmt s(db_, path_, "SELECT tag FROM run_tags WHERE run = ?1 ORDER BY tag");
  s.bind_int(1, run);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.col_text(0));
  return out;
}

void Store::set_note(int64_t run, const std::string& note) {
  require_run(*this, run);
  Stmt s(db_, path_, "UPDATE runs SET note = ?2 WHERE id = ?1");
  s.bind_int(1, run).bind_text(2, note).run();
}

std::string Store::note(int64_t run) const {
  require_run(*this, run);
  Stmt s(db_, path_, "SELECT note FROM runs WHERE id = ?1");
  s.bind_int(1, run);
  return s.step() ? s.col_text(0) : std::string();
}

}  // namespace qatwb::store
