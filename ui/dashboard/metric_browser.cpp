#include "ui/dashboard/metric_browser.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QScrollArea>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <set>

#include "core/report/chart_spec.h"
#include "core/report/chart_transforms.h"
#include "core/store/store.h"
#include "ui/plot/chart_link.h"
#include "ui/plot/metric_chart_widget.h"
#include "ui/plot/qcustomplot_include.h"

namespace qatwb::ui {

namespace {

constexpr int kEntryRole = Qt::UserRole;
const char* const kFamilySuffix = "/*";

bool is_family(const QString& entry) { return entry.endsWith(kFamilySuffix); }

// "grad_norm/model.layers.3.self_attn.q_proj.weight" -> "layers.3.self_attn.q_proj".
QString short_layer_name(const std::string& key, const std::string& family) {
  QString s = QString::fromStdString(key.substr(family.size() + 1));
  if (s.startsWith("model.")) s = s.mid(6);
  if (s.endsWith(".weight")) s.chop(7);
  return s;
}

// Viridis (perceptually uniform, readable with colour-blindness); missing cells transparent.
QCPColorGradient viridis() {
  QCPColorGradient g;
  g.clearColorStops();
  g.setColorStopAt(0.0, QColor(68, 1, 84));
  g.setColorStopAt(0.25, QColor(59, 82, 139));
  g.setColorStopAt(0.5, QColor(33, 145, 140));
  g.setColorStopAt(0.75, QColor(94, 201, 98));
  g.setColorStopAt(1.0, QColor(253, 231, 37));
  g.setNanHandling(QCPColorGradient::nhTransparent);
  return g;
}

}  // namespace

struct MetricBrowser::Impl {
  QString db;
  std::vector<int64_t> runs;
  std::vector<std::string> keys;      // union over the runs, sorted
  std::vector<std::string> families;  // per-layer prefixes
  QLineEdit* search = nullptr;
  QListWidget* list = nullptr;
  QComboBox* layout = nullptr;
  QComboBox* baseline = nullptr;
  QCheckBox* seeds = nullptr;
  QLabel* message = nullptr;
  QWidget* host = nullptr;
  QGridLayout* grid = nullptr;
  QString current;
  struct Source {
    std::vector<int64_t> runs;
    std::string key;
  };
  std::vector<Source> sources;  // what chart i shows
  std::vector<plot::MetricChartWidget*> charts;
  std::vector<QCustomPlot*> heatmaps;
  std::vector<report::LayerHeatmap> heat_data;
  bool updating = false;

  Layout current_layout() const { return static_cast<Layout>(layout->currentData().toInt()); }

  // The chart of `source` with the baseline difference and seed grouping applied.
  report::ChartSpec spec_for(const store::Store& store, const Source& source,
                             const report::ChartQuery& q) const {
    report::ChartSpec spec = report::metric_chart(store, source.runs, source.key, q);
    const qint64 base = baseline->currentData().toLongLong();
    if (base > 0) spec = report::difference_to_baseline(spec, base);
    if (seeds->isChecked()) {
      std::map<int64_t, std::string> group;
      for (int64_t run : source.runs)
        group[run] = report::seed_group_key(store.run_summary(run).params);
      spec = report::group_series(spec, group);
    }
    return spec;
  }
};

MetricBrowser::MetricBrowser(QWidget* parent) : QWidget(parent), d_(std::make_unique<Impl>()) {
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(Qt::Horizontal, this);
  layout->addWidget(split);

  auto* left = new QWidget(split);
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  d_->search = new QLineEdit(left);
  d_->search->setObjectName("metric_search");
  d_->search->setPlaceholderText(tr("Search metrics (e.g. q_proj, code_flip)"));
  d_->search->setClearButtonEnabled(true);
  left_layout->addWidget(d_->search);
  d_->list = new QListWidget(left);
  d_->list->setObjectName("metric_list");
  left_layout->addWidget(d_->list, 1);
  split->addWidget(left);

  auto* right = new QWidget(split);
  auto* right_layout = new QVBoxLayout(right);
  right_layout->setContentsMargins(0, 0, 0, 0);
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("View"), right));
  d_->layout = new QComboBox(right);
  d_->layout->setObjectName("metric_layout");
  d_->layout->addItem(tr("Overlay"), static_cast<int>(Layout::overlay));
  d_->layout->addItem(tr("Small multiples"), static_cast<int>(Layout::small_multiples));
  d_->layout->addItem(tr("Heatmap (layer x step)"), static_cast<int>(Layout::heatmap));
  d_->layout->setToolTip(
      tr("Overlay: runs in one chart. Small multiples: one chart per run (per layer for a "
         "per-layer family). Heatmap: layer x step for each run (per-layer families)."));
  bar->addWidget(d_->layout);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("Difference to"), right));
  d_->baseline = new QComboBox(right);
  d_->baseline->setObjectName("metric_baseline");
  d_->baseline->addItem(tr("(none)"), qint64{0});
  bar->addWidget(d_->baseline);
  d_->seeds = new QCheckBox(tr("Group seeds (mean \u00b1 std)"), right);
  d_->seeds->setObjectName("metric_group_seeds");
  d_->seeds->setToolTip(tr("Runs whose configurations differ only in seeds become one curve"));
  bar->addWidget(d_->seeds);
  bar->addStretch(1);
  d_->message = new QLabel(right);
  bar->addWidget(d_->message);
  right_layout->addLayout(bar);
  d_->host = new QWidget(right);
  d_->grid = new QGridLayout(d_->host);
  d_->grid->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea(right);
  scroll->setWidgetResizable(true);
  scroll->setWidget(d_->host);
  right_layout->addWidget(scroll, 1);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  split->setSizes({260, 900});

  connect(d_->search, &QLineEdit::textChanged, this, [this] { reload_keys(); });
  connect(d_->list, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
    if (d_->updating || !item) return;
    d_->current = item->data(kEntryRole).toString();
    rebuild_view();
  });
  connect(d_->layout, qOverload<int>(&QComboBox::currentIndexChanged), this,
          [this] { rebuild_view(); });
  connect(d_->baseline, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    if (!d_->updating) rebuild_view();
  });
  connect(d_->seeds, &QCheckBox::toggled, this, [this] { rebuild_view(); });
}

MetricBrowser::~MetricBrowser() = default;

void MetricBrowser::set_database(const QString& db_path) {
  d_->db = db_path;
  refresh();
}

void MetricBrowser::set_runs(const QList<qint64>& run_ids) {
  d_->runs.assign(run_ids.begin(), run_ids.end());
  refresh();
}

void MetricBrowser::refresh() {
  d_->keys.clear();
  d_->families.clear();
  const qint64 base = d_->baseline->currentData().toLongLong();
  d_->updating = true;
  d_->baseline->clear();
  d_->baseline->addItem(tr("(none)"), qint64{0});
  if (!d_->db.isEmpty() && !d_->runs.empty()) {
    try {
      auto store = store::Store::open_existing(d_->db.toStdString());
      std::set<std::string> keys;
      for (int64_t run : d_->runs) {
        auto info = store.run_info(run);
        if (!info) continue;
        d_->baseline->addItem(QString::fromStdString(info->name), qint64{run});
        for (auto& k : store.metric_keys(run)) keys.insert(std::move(k));
      }
      d_->keys.assign(keys.begin(), keys.end());
      std::sort(d_->keys.begin(), d_->keys.end(), report::natural_less);  // layers.2 < layers.10
      d_->families = report::metric_families(d_->keys);
      d_->message->clear();
    } catch (const std::exception& e) {
      d_->message->setText(QString::fromUtf8(e.what()));
    }
  }
  const int at = d_->baseline->findData(base);
  d_->baseline->setCurrentIndex(at < 0 ? 0 : at);
  d_->updating = false;
  reload_keys();
  rebuild_view();
}

void MetricBrowser::reload_keys() {
  const QString needle = d_->search->text().trimmed();
  d_->updating = true;
  d_->list->clear();
  auto add = [&](const QString& entry, const QString& text) {
    if (!needle.isEmpty() && !entry.contains(needle, Qt::CaseInsensitive)) return;
    auto* item = new QListWidgetItem(text, d_->list);
    item->setData(kEntryRole, entry);
    item->setToolTip(entry);
    if (entry == d_->current) d_->list->setCurrentItem(item);
  };
  for (const auto& f : d_->families) {
    const QString entry = QString::fromStdString(f) + kFamilySuffix;
    const auto n = report::family_members(d_->keys, f).size();
    add(entry, tr("%1  (%2 layers)").arg(entry).arg(n));
  }
  for (const auto& k : d_->keys) add(QString::fromStdString(k), QString::fromStdString(k));
  d_->updating = false;
}

QStringList MetricBrowser::entries() const {
  QStringList out;
  for (int i = 0; i < d_->list->count(); ++i) out << d_->list->item(i)->data(kEntryRole).toString();
  return out;
}

void MetricBrowser::set_search(const QString& text) { d_->search->setText(text); }

bool MetricBrowser::select(const QString& entry) {
  for (int i = 0; i < d_->list->count(); ++i)
    if (d_->list->item(i)->data(kEntryRole).toString() == entry) {
      if (d_->current == entry) return true;
      d_->list->setCurrentRow(i);  // rebuilds through currentItemChanged
      return true;
    }
  return false;
}

QString MetricBrowser::selected() const { return d_->current; }

void MetricBrowser::set_layout(Layout layout) {
  d_->layout->setCurrentIndex(d_->layout->findData(static_cast<int>(layout)));
}

MetricBrowser::Layout MetricBrowser::layout() const { return d_->current_layout(); }

void MetricBrowser::set_baseline(qint64 run_id) {
  const int at = d_->baseline->findData(run_id);
  d_->baseline->setCurrentIndex(at < 0 ? 0 : at);
}

void MetricBrowser::set_group_by_seed(bool on) { d_->seeds->setChecked(on); }

void MetricBrowser::rebuild_view() {
  for (auto* c : d_->charts) delete c;
  for (auto* h : d_->heatmaps) delete h;
  d_->charts.clear();
  d_->heatmaps.clear();
  d_->heat_data.clear();
  d_->sources.clear();
  if (d_->current.isEmpty() || d_->runs.empty() || d_->db.isEmpty()) return;
  const bool family = is_family(d_->current);
  const std::string name = d_->current.toStdString();
  const std::string fam = family ? name.substr(0, name.size() - 2) : std::string();
  Layout layout = d_->current_layout();
  if (!family && layout == Layout::heatmap) layout = Layout::overlay;
  try {
    auto store = store::Store::open_existing(d_->db.toStdString());
    if (family && layout == Layout::heatmap) {
      int row = 0;
      for (int64_t run : d_->runs) {
        report::LayerHeatmap h = report::layer_heatmap(store, run, fam);
        if (h.rows.empty() || h.steps.empty()) continue;
        auto info = store.run_info(run);
        auto* plot = new QCustomPlot(d_->host);
        plot->setObjectName(QString("heatmap_%1").arg(run));
        plot->setMinimumHeight(std::max(240, 16 * static_cast<int>(h.rows.size()) + 90));
        plot->plotLayout()->insertRow(0);
        plot->plotLayout()->addElement(
            0, 0,
            new QCPTextElement(plot,
                               QString::fromStdString((info ? info->name : "") + " \u2014 " + fam),
                               QFont(plot->font().family(), 10, QFont::Bold)));
        auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
        const int cols = static_cast<int>(h.steps.size()), rows = static_cast<int>(h.rows.size());
        map->data()->setSize(cols, rows);
        map->data()->setRange(QCPRange(h.steps.front(), h.steps.back()), QCPRange(0, rows - 1));
        bool positive = true;
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c) {
            const double v = h.values[static_cast<size_t>(r)][static_cast<size_t>(c)];
            map->data()->setCell(c, r, v);
            if (std::isfinite(v) && v <= 0) positive = false;
          }
        auto* scale = new QCPColorScale(plot);
        plot->plotLayout()->addElement(1, 1, scale);
        scale->setType(QCPAxis::atRight);
        scale->axis()->setLabel(QString::fromStdString(fam));
        map->setColorScale(scale);
        map->setGradient(viridis());
        // Gradient norms span decades across layers: a log colour scale when all are positive.
        if (fam == "grad_norm" && positive) scale->setDataScaleType(QCPAxis::stLogarithmic);
        map->rescaleDataRange(true);
        auto ticker = QSharedPointer<QCPAxisTickerText>::create();
        for (int r = 0; r < rows; ++r)
          ticker->addTick(r, short_layer_name(h.rows[static_cast<size_t>(r)], fam));
        plot->yAxis->setTicker(ticker);
        plot->yAxis->setTickLabelFont(QFont(plot->font().family(), 7));
        plot->xAxis->setLabel(tr("step"));
        plot->rescaleAxes();
        auto* margins = new QCPMarginGroup(plot);
        plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
        scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
        plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
        plot->axisRect()->setRangeZoom(Qt::Horizontal);
        plot->axisRect()->setRangeDrag(Qt::Horizontal);
        plot->replot();
        d_->grid->addWidget(plot, row++, 0);
        d_->heatmaps.push_back(plot);
        d_->heat_data.push_back(std::move(h));
      }
      if (d_->heatmaps.empty()) d_->message->setText(tr("no per-layer values to show"));
      return;
    }
    if (family) {
      for (const auto& key : report::family_members(d_->keys, fam))
        d_->sources.push_back({d_->runs, key});
    } else if (layout == Layout::small_multiples) {
      for (int64_t run : d_->runs) d_->sources.push_back({{run}, name});
    } else {
      d_->sources.push_back({d_->runs, name});
    }
    const int columns = d_->sources.size() > 1 ? 2 : 1;
    for (size_t i = 0; i < d_->sources.size(); ++i) {
      auto* c = new plot::MetricChartWidget(d_->host);
      c->setObjectName(QString::fromStdString("browser_chart_" + d_->sources[i].key));
      c->setMinimumHeight(d_->sources.size() > 1 ? 220 : 360);
      report::ChartQuery q;
      q.max_points = 1000;
      report::ChartSpec spec = d_->spec_for(store, d_->sources[i], q);
      if (family) spec.title = short_layer_name(d_->sources[i].key, fam).toStdString();
      c->set_spec(spec);
      d_->grid->addWidget(c, static_cast<int>(i) / columns, static_cast<int>(i) % columns);
      d_->charts.push_back(c);
      const int index = static_cast<int>(i);
      connect(c, &plot::MetricChartWidget::step_range_changed, this,
              [this, index] { reload_chart(index); });
    }
    plot::link_x_zoom(d_->charts);
    d_->message->clear();
  } catch (const std::exception& e) {
    d_->message->setText(QString::fromUtf8(e.what()));
  }
}

void MetricBrowser::reload_chart(int index) {
  if (index < 0 || index >= chart_count() || d_->db.isEmpty()) return;
  plot::MetricChartWidget* c = d_->charts[static_cast<size_t>(index)];
  try {
    auto store = store::Store::open_existing(d_->db.toStdString());
    report::ChartQuery q;
    q.max_points = 1000;
    q.step_min = c->zoom_step_min();
    q.step_max = c->zoom_step_max();
    report::ChartSpec spec = d_->spec_for(store, d_->sources[static_cast<size_t>(index)], q);
    spec.title = c->spec().title;
    c->set_spec(spec);
  } catch (const std::exception& e) {
    d_->message->setText(QString::fromUtf8(e.what()));
  }
}

int MetricBrowser::chart_count() const { return static_cast<int>(d_->charts.size()); }

plot::MetricChartWidget* MetricBrowser::chart(int index) const {
  return index >= 0 && index < chart_count() ? d_->charts[static_cast<size_t>(index)] : nullptr;
}

int MetricBrowser::heatmap_count() const { return static_cast<int>(d_->heatmaps.size()); }

QCustomPlot* MetricBrowser::heatmap(int index) const {
  return index >= 0 && index < heatmap_count() ? d_->heatmaps[static_cast<size_t>(index)] : nullptr;
}

const report::LayerHeatmap& MetricBrowser::heatmap_data(int index) const {
  return d_->heat_data.at(static_cast<size_t>(index));
}

}  // namespace qatwb::ui
