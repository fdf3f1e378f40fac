#include "core/util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace qatwb {

std::string format_amount(double amount, Progress::Unit unit) {
  const char* bytes_units[] = {"B", "kB", "MB", "GB", "TB"};
  const char* count_units[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::fabs(amount) >= 1000.0 && i < 4) {
    amount /= 1000.0;
    ++i;
  }
  char buf[64];
  const char* suffix = unit == Progress::Unit::Bytes ? bytes_units[i] : count_units[i];
  const char* space = unit == Progress::Unit::Bytes ? " " : "";
  if (i == 0)
    std::snprintf(buf, sizeof buf, "%.0f%s%s", amount, space, suffix);
  else
    std::snprintf(buf, sizeof buf, "%.1f%s%s", amount, space, suffix);
  return buf;
}

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, Unit unit, std::FILE* out, double interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      out_(out),
      interval_s_(interval_s),
      tty_(out != nullptr && isatty(fileno(out)) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::line() const {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? double(done_) / elapsed : 0.0;
  std::string s = label_;
  if (total_ > 0) {
    double frac = std::min(1.0, double(done_) / double(total_));
    if (tty_) {
      const int width = 24;
      int filled = int(frac * width);
      s += " [" + std::string(filled, '#') + std::string(width - filled, ' ') + "]";
    }
    char pct[16];
    std::snprintf(pct, sizeof pct, " %3d%%", int(frac * 100.0));
    s += pct;
    s += " " + format_amount(double(done_), unit_) + "/" + format_amount(double(total_), unit_);
  } else {
    s += " " + format_amount(double(done_), unit_);
  }
  s += " " + format_amount(rate, unit_) + "/s";
  if (total_ > 0 && rate > 0 && done_ < total_)
    s += " eta " + format_duration(double(total_ - done_) / rate);
  else
    s += " " + format_duration(elapsed);
  return s;
}

void Progress::draw(bool final_line) {
  if (out_ == nullptr) return;
  std::string s = line();
  if (tty_) {
    size_t width = s.size();
    if (s.size() < last_width_) s += std::string(last_width_ - s.size(), ' ');
    last_width_ = width;
    std::fprintf(out_, "\r%s%s", s.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", s.c_str());
  }
  std::fflush(out_);
}

void Progress::update(int64_t done) {
  done_ = done;
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.1 : interval_s_)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

}  // namespace qatwb
