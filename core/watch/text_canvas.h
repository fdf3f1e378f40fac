// Drawing for `qatwb watch`, as plain text: a braille canvas (each terminal cell holds 2x4 dots,
// U+2800..U+28FF), a line plot built on it with y labels and an x range, and helpers to fit
// UTF-8 text to a number of terminal columns. No curses here: app/cmd_watch.cpp puts the lines on
// the screen, tests compare them.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qatwb::watch {

class BrailleCanvas {
 public:
  BrailleCanvas(int columns, int rows);  // in terminal cells (negative sizes become 0)
  int columns() const { return columns_; }
  int rows() const { return rows_; }
  int dot_width() const { return columns_ * 2; }
  int dot_height() const { return rows_ * 4; }
  // Sets one dot (x right, y down, in dots); outside the canvas is ignored.
  void set(int x, int y);
  bool get(int x, int y) const;
  // A line between two dots (Bresenham), clipped to the canvas.
  void line(int x0, int y0, int x1, int y1);
  // Dots set from now on mark their cell as drawn by `owner` (the last one to draw there wins);
  // -1 (the start) marks nothing.
  void set_pen(int owner) { pen_ = owner; }
  int owner(int column, int row) const;  // -1: no dot, or drawn without a pen
  // One UTF-8 string per row; an empty cell is a space (not U+2800), so blank stays blank.
  std::vector<std::string> lines() const;

 private:
  int columns_, rows_;
  std::vector<uint8_t> cells_;
  std::vector<int> owners_;
  int pen_ = -1;
};

// Terminal columns of a UTF-8 string (every code point one column; continuation bytes none).
int display_width(const std::string& s);
// Cut to at most `columns` columns (never inside a code point), then pad with spaces to exactly
// `columns`.
std::string fit(const std::string& s, int columns);
// A number in at most `width` characters ("%.4g" style, shorter when needed); "-" for NaN.
std::string short_number(double v, int width = 8);

struct PlotSeries {
  std::vector<std::pair<double, double>> points;  // (x, y), x increasing; NaN/Inf y skipped
};

// A line plot in exactly `height` lines of exactly `width` columns: y labels (max, middle, min)
// in a left margin, the braille area, and a last line with the x range. Too small (width < 20
// or height < 3) or no finite point: a centred message instead.
std::vector<std::string> render_plot(const PlotSeries& series, int width, int height,
                                     const std::string& empty_message = "no data yet");

// Several series overlaid (drawn in order: the last one wins a shared cell) and horizontal
// reference lines (dotted, labelled at the right: "FP 394.3"), the y range covering both.
// `owner[line][column]` says which series drew a cell (its `id`), -1 for none or text; it lets a
// terminal colour each run's cells.
struct PlotLayer {
  std::vector<std::pair<double, double>> points;
  int id = 0;
};
struct PlotRender {
  std::vector<std::string> lines;
  std::vector<std::vector<int>> owner;
};
PlotRender render_plots(const std::vector<PlotLayer>& layers,
                        const std::vector<std::pair<std::string, double>>& references, int width,
                        int height, const std::string& empty_message = "no data yet");
// One string per terminal column of a UTF-8 line (a code point each).
std::vector<std::string> split_columns(const std::string& s);

}  // namespace qatwb::watch
