// A progress indicator for long CLI steps (sampling, tokenizing). On a terminal it redraws one
// line with '\r' (at most ~10 times a second); otherwise (log file, CI, ssh without a tty) it
// prints a plain line every `interval_s` seconds, so logs stay readable. Not thread-safe: call
// update() from one thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace qatwb {

class Progress {
 public:
  enum class Unit { Count, Bytes };
  // total <= 0: unknown total (no percentage or ETA).
  Progress(std::string label, int64_t total, Unit unit = Unit::Count, std::FILE* out = stderr,
           double interval_s = 10.0);
  ~Progress();  // calls finish()

  void update(int64_t done);  // absolute amount done so far
  void add(int64_t delta) { update(done_ + delta); }
  void set_total(int64_t total) { total_ = total; }
  void set_label(std::string label) { label_ = std::move(label); }
  void finish();  // final line (with a newline on a tty); idempotent

  // Overrides tty detection (tests).
  void set_tty(bool tty) { tty_ = tty; }
  bool is_tty() const { return tty_; }
  // The line as it would be printed now, without '\r' or '\n'.
  std::string line() const;

 private:
  void draw(bool final_line);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  Unit unit_;
  std::FILE* out_;
  double interval_s_;
  bool tty_;
  bool finished_ = false;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1.5 GB", "12.0 MB", "512 B" (decimal units) / "1.2M", "3.4k", "17" for counts.
std::string format_amount(double amount, Progress::Unit unit);

}  // namespace qatwb
