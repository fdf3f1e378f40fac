// How a run looks wherever it is drawn (GUI charts and tables, report plots, qatwb-gui
// --screenshot): one colour per run from a colour-blind-safe palette (Okabe-Ito first), one line
// style per surrogate. The one table of both; plain C++ (no Qt), ui/plot turns it into pens.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/util/enum_table.h"

namespace qatwb::store {
class Store;
struct RunSummary;
}  // namespace qatwb::store

namespace qatwb::report {

struct Rgb {
  int r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// Okabe-Ito (without black and yellow, which vanish on white), then Paul Tol's bright scheme,
// then grey; the index wraps around.
const std::vector<Rgb>& run_palette();
Rgb palette_colour(int colour_index);
std::string hex(Rgb c);  // "#0072b2"

enum class LineStyle { solid, dash, dot, dash_dot, dash_dot_dot, long_dash, short_dash };
EnumRows<LineStyle> enum_rows(LineStyle);  // "solid", "dash", "dot", "dash-dot", ...
const char* to_string(LineStyle s);
// By the surrogate table's values (a name quant::Surrogate does not have is drawn solid): ste
// (and an unquantized run, "fp") solid, stableqat dash, dsq dot, lsq dash-dot, pact
// dash-dot-dot, paretoq long dash, ewgs short dash, adaround dash-dot.
LineStyle line_style_for_surrogate(const std::string& surrogate);
// Alternating on/off lengths in line widths (Qt's QPen::setDashPattern units); empty: solid.
std::vector<double> dash_pattern(LineStyle s);

// The surrogate a run trained with: quant.surrogate of its config, "fp" when quantization is off
// or absent.
std::string run_surrogate(const store::RunSummary& summary);

// Colour slots of every run of the store: runs ranked by their start time (from the run's own
// start event, so the same in any store that ingested the same run folders), then name, then
// id; runs without a start event after those. A new run never changes an older run's colour.
std::map<int64_t, int> colour_indices(const store::Store& store);

struct RunStyle {
  int colour_index = 0;
  Rgb colour;
  LineStyle line = LineStyle::solid;
};
// The style of one run (colour_indices()[run], its surrogate's line); an unknown run gets slot 0.
RunStyle run_style(const store::Store& store, int64_t run);

}  // namespace qatwb::report
