// Drawing a report::ChartSpec with QCustomPlot in the product's look: raw line faint, smoothed line
// solid, optional min/max band, dashed reference lines, legend; and rendering one to PNG headless.
#pragma once
#include <QColor>
#include <QPen>
#include <string>

#include "core/report/chart_spec.h"

class QCustomPlot;

namespace qatwb::plot {

// The run palette of core/report/run_style.h (Okabe-Ito, then Tol's bright) as a QColor.
QColor run_colour(int colour_index);
// A pen in the run's colour and its surrogate's dash pattern (run_style.h).
QPen run_pen(const QColor& colour, report::LineStyle style, double width);

// A series of at most this many points (evaluations, a run just started) is drawn with a marker
// on every point, so that one evaluation shows a dot and two are not mistaken for a trend line.
constexpr int kSparsePoints = 40;
bool is_sparse(const report::ChartSeries& series);

// Draws a ChartSpec into a QCustomPlot (clearing what was there) and rescales the axes with the
// outlier-robust autoscale. Does not call replot().
void draw_chart(QCustomPlot* plot, const report::ChartSpec& spec);

struct DrawOptions {
  bool band = true;             // min/max band of each bucket (gradient-norm view: mean +- std)
  bool grad_norm_view = false;  // rolling mean +- std band and spike markers
  int grad_window = 50;
  double grad_k = 3.0;
  bool rescale = true;  // x: full range, y: robust range
  // Antialiased lines and bands; off for many points (antialiasing costs ~10x the replot time).
  bool antialias = true;
};
// As above with options; returns the number of spike markers drawn (gradient-norm view).
int draw_chart(QCustomPlot* plot, const report::ChartSpec& spec, const DrawOptions& options);

// Robust y range (5th-95th percentile of the finite y of every series inside [x_lo, x_hi]) set on
// the plot's y axis; false when there is nothing finite to show.
bool rescale_y_robust(QCustomPlot* plot, const report::ChartSpec& spec, double x_lo, double x_hi);

// Renders a ChartSpec to a PNG file without a display. Works whether or not a QApplication exists
// (creates a temporary offscreen one when none does). Throws qatwb::Error naming the file on
// failure.
void save_chart_png(const report::ChartSpec& spec, const std::string& path, int width = 900,
                    int height = 500);

}  // namespace qatwb::plot
