#include "core/watch/text_canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace qatwb::watch {

BrailleCanvas::BrailleCanvas(int columns, int rows)
    : columns_(std::max(columns, 0)),
      rows_(std::max(rows, 0)),
      cells_(size_t(columns_) * size_t(rows_), 0),
      owners_(size_t(columns_) * size_t(rows_), -1) {}

int BrailleCanvas::owner(int column, int row) const {
  if (column < 0 || row < 0 || column >= columns_ || row >= rows_) return -1;
  return owners_[size_t(row) * size_t(columns_) + size_t(column)];
}

namespace {
// Bit of dot (dx, dy) inside a cell (Unicode braille numbering 1-8).
constexpr uint8_t kDotBits[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}
}  // namespace

void BrailleCanvas::set(int x, int y) {
  if (x < 0 || y < 0 || x >= dot_width() || y >= dot_height()) return;
  const size_t c = size_t(y / 4) * size_t(columns_) + size_t(x / 2);
  cells_[c] |= kDotBits[y % 4][x % 2];
  if (pen_ >= 0) owners_[c] = pen_;
}

bool BrailleCanvas::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= dot_width() || y >= dot_height()) return false;
  return cells_[size_t(y / 4) * size_t(columns_) + size_t(x / 2)] & kDotBits[y % 4][x % 2];
}

void BrailleCanvas::line(int x0, int y0, int x1, int y1) {
  // Clamp far-away endpoints so the walk stays short; dots outside are dropped by set().
  auto clampc = [](int v, int hi) { return std::clamp(v, -hi, 2 * hi); };
  x0 = clampc(x0, dot_width() + 1), x1 = clampc(x1, dot_width() + 1);
  y0 = clampc(y0, dot_height() + 1), y1 = clampc(y1, dot_height() + 1);
  int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  while (true) {
    set(x0, y0);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

std::vector<std::string> BrailleCanvas::lines() const {
  std::vector<std::string> out;
  for (int r = 0; r < rows_; ++r) {
    std::string line;
    for (int c = 0; c < columns_; ++c) {
      uint8_t bits = cells_[size_t(r) * size_t(columns_) + size_t(c)];
      if (bits == 0)
        line += ' ';
      else
        append_utf8(line, 0x2800u + bits);
    }
    out.push_back(std::move(line));
  }
  return out;
}

int display_width(const std::string& s) {
  int w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string fit(const std::string& s, int columns) {
  if (columns <= 0) return {};
  std::string out;
  int w = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    unsigned char c = s[i];
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    if (w + 1 > columns) break;
    if (c < 0x20 || c == 0x7F) {
      out += ' ';  // no control characters on the screen
    } else {
      out.append(s, i, std::min(len, s.size() - i));
    }
    ++w;
    i += len;
  }
  out.append(size_t(columns - w), ' ');
  return out;
}

std::string short_number(double v, int width) {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  for (int prec = 4; prec >= 1; --prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (int(std::string(buf).size()) <= width) return buf;
  }
  return std::string(buf).substr(0, size_t(std::max(width, 1)));
}

std::vector<std::string> split_columns(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    len = std::min(len, s.size() - i);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

std::vector<std::string> render_plot(const PlotSeries& series, int width, int height,
                                     const std::string& empty_message) {
  return render_plots({PlotLayer{series.points, 0}}, {}, width, height, empty_message).lines;
}

PlotRender render_plots(const std::vector<PlotLayer>& layers,
                        const std::vector<std::pair<std::string, double>>& references, int width,
                        int height, const std::string& empty_message) {
  PlotRender out;
  if (width <= 0 || height <= 0) return out;
  auto blank_owner = [&] { out.owner.push_back(std::vector<int>(size_t(width), -1)); };
  double ymin = INFINITY, ymax = -INFINITY, xmin = INFINITY, xmax = -INFINITY;
  for (const auto& layer : layers)
    for (const auto& [x, y] : layer.points) {
      if (!std::isfinite(y) || !std::isfinite(x)) continue;
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
    }
  if (width < 20 || height < 3 || !std::isfinite(ymin)) {
    const std::string msg = width < 20 || height < 3 ? "(too small)" : empty_message;
    for (int r = 0; r < height; ++r) {
      if (r == (height - 1) / 2) {
        int pad = std::max(0, (width - display_width(msg)) / 2);
        out.lines.push_back(fit(std::string(size_t(pad), ' ') + msg, width));
      } else {
        out.lines.push_back(std::string(size_t(width), ' '));
      }
      blank_owner();
    }
    return out;
  }
  for (const auto& [label, v] : references)
    if (std::isfinite(v)) ymin = std::min(ymin, v), ymax = std::max(ymax, v);
  if (ymax == ymin) {  // a flat series sits in the middle
    double pad = ymin == 0 ? 1 : std::abs(ymin) * 0.05;
    ymin -= pad, ymax += pad;
  }
  const int margin = 9;  // "12345678" + "│"
  const int plot_w = width - margin, plot_h = height - 1;
  BrailleCanvas canvas(plot_w, plot_h);
  auto px = [&](double x) {
    if (xmax == xmin) return canvas.dot_width() / 2;
    return int(std::lround((x - xmin) / (xmax - xmin) * (canvas.dot_width() - 1)));
  };
  auto py = [&](double y) {
    return int(std::lround((ymax - y) / (ymax - ymin) * (canvas.dot_height() - 1)));
  };
  // Reference lines first (dotted, no owner), so the runs draw over them.
  std::vector<std::pair<int, std::string>> labels;  // (row, text)
  for (const auto& [label, v] : references) {
    if (!std::isfinite(v)) continue;
    const int y = py(v);
    for (int x = 0; x < canvas.dot_width(); x += 3) canvas.set(x, y);
    labels.emplace_back(y / 4, label + " " + short_number(v, 8));
  }
  for (const auto& layer : layers) {
    canvas.set_pen(layer.id);
    bool have_prev = false;
    int lx = 0, ly = 0;
    for (const auto& [x, y] : layer.points) {
      if (!std::isfinite(y) || !std::isfinite(x)) {
        have_prev = false;  // a gap
        continue;
      }
      int cx = px(x), cy = py(y);
      if (have_prev)
        canvas.line(lx, ly, cx, cy);
      else
        canvas.set(cx, cy);
      lx = cx, ly = cy, have_prev = true;
    }
  }
  const auto rows = canvas.lines();
  for (int r = 0; r < plot_h; ++r) {
    std::string label;
    if (r == 0)
      label = short_number(ymax);
    else if (r == plot_h - 1)
      label = short_number(ymin);
    else if (r == plot_h / 2 && plot_h >= 5)
      label = short_number((ymax + ymin) / 2);
    std::string left = std::string(size_t(std::max(0, 8 - int(label.size()))), ' ') + label;
    std::vector<std::string> cols = split_columns(rows[size_t(r)]);
    std::vector<int> owner(size_t(width), -1);
    for (int c = 0; c < plot_w; ++c) owner[size_t(margin + c)] = canvas.owner(c, r);
    for (const auto& [row, text] : labels) {
      if (row != r) continue;
      const int n = display_width(text);
      const int at = std::max(0, plot_w - n);
      for (int k = 0; k < n && at + k < int(cols.size()); ++k) {
        cols[size_t(at + k)] = text.substr(size_t(k), 1);
        owner[size_t(margin + at + k)] = -1;
      }
    }
    std::string line = left + "\u2502";
    for (const auto& c : cols) line += c;
    out.lines.push_back(fit(line, width));
    out.owner.push_back(std::move(owner));
  }
  std::string lo = short_number(xmin, 12), hi = short_number(xmax, 12);
  std::string axis = std::string(size_t(margin), ' ') + lo;
  int gap = width - display_width(axis) - int(hi.size());
  axis += std::string(size_t(std::max(1, gap)), ' ') + hi;
  out.lines.push_back(fit(axis, width));
  blank_owner();
  return out;
}

}  // namespace qatwb::watch
