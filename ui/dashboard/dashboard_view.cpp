#include "ui/dashboard/dashboard_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollArea>
#include <QSlider>
#include <QTimer>
#include <QVBoxLayout>

#include "core/store/store.h"
#include "ui/dashboard/dashboard_loader.h"
#include "ui/plot/chart_link.h"
#include "ui/plot/metric_chart_widget.h"

namespace qatwb::ui {

namespace {

const std::vector<std::string> kDashboardKeys = {"loss", "grad_norm", "eval/ppl_postquant", "lr",
                                                 "tokens_per_s"};

}  // namespace

struct DashboardView::Impl {
  QString db;
  std::vector<int64_t> runs;
  std::vector<plot::MetricChartWidget*> charts;
  QSlider* smoothing = nullptr;
  QLabel* smoothing_label = nullptr;
  QComboBox* x_axis = nullptr;
  QCheckBox* log_y = nullptr;
  QLabel* status = nullptr;
  QTimer* timer = nullptr;
  std::unique_ptr<DashboardLoader> loader;
  bool busy = false;     // a load is in flight
  bool pending = false;  // something changed while it was: load again when it lands
  bool live = true;      // some run was running at the last load
  bool dirty = true;     // runs / axis / zoom changed since the last load
  int max_points = 1000;
  int64_t config = 0;  // bumped whenever what to load changes; older results are dropped

  DashboardRequest request() const {
    DashboardRequest r;
    r.db_path = db;
    r.runs = runs;
    r.keys = kDashboardKeys;
    r.x = static_cast<report::XAxis>(x_axis->currentData().toInt());
    r.max_points = max_points;
    for (auto* c : charts) r.zoom.emplace_back(c->zoom_step_min(), c->zoom_step_max());
    return r;
  }
};

DashboardView::DashboardView(QWidget* parent) : QWidget(parent), d_(std::make_unique<Impl>()) {
  auto* layout = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Smoothing"), this));
  d_->smoothing = new QSlider(Qt::Horizontal, this);
  d_->smoothing->setRange(0, 99);
  d_->smoothing->setValue(60);
  d_->smoothing->setMaximumWidth(200);
  d_->smoothing->setToolTip(tr("Exponential moving average weight (debiased, as TensorBoard)"));
  bar->addWidget(d_->smoothing);
  d_->smoothing_label = new QLabel("0.60", this);
  bar->addWidget(d_->smoothing_label);
  bar->addSpacing(16);
  bar->addWidget(new QLabel(tr("X axis"), this));
  d_->x_axis = new QComboBox(this);
  d_->x_axis->addItem(tr("Step"), static_cast<int>(report::XAxis::step));
  d_->x_axis->addItem(tr("Tokens"), static_cast<int>(report::XAxis::tokens));
  d_->x_axis->addItem(tr("Relative time"), static_cast<int>(report::XAxis::relative_time));
  d_->x_axis->addItem(tr("Wall time"), static_cast<int>(report::XAxis::wall_time));
  bar->addWidget(d_->x_axis);
  d_->log_y = new QCheckBox(tr("Log scale (loss, grad norm)"), this);
  bar->addWidget(d_->log_y);
  bar->addStretch(1);
  d_->status = new QLabel(this);
  bar->addWidget(d_->status);
  layout->addLayout(bar);

  auto* grid_host = new QWidget(this);
  auto* grid = new QGridLayout(grid_host);
  grid->setContentsMargins(0, 0, 0, 0);
  for (size_t i = 0; i < kDashboardKeys.size(); ++i) {
    auto* c = new plot::MetricChartWidget(grid_host);
    c->setObjectName(QString::fromStdString("chart_" + kDashboardKeys[i]));
    c->setMinimumHeight(220);
    if (kDashboardKeys[i] == "grad_norm") c->set_grad_norm_view(true);
    grid->addWidget(c, static_cast<int>(i / 2), static_cast<int>(i % 2));
    d_->charts.push_back(c);
    connect(c, &plot::MetricChartWidget::step_range_changed, this, [this] {
      d_->dirty = true;
      ++d_->config;
      refresh_async();
    });
  }
  plot::link_x_zoom(d_->charts);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setWidget(grid_host);
  layout->addWidget(scroll, 1);

  connect(d_->smoothing, &QSlider::valueChanged, this, [this](int v) {
    d_->smoothing_label->setText(QString::number(v / 100.0, 'f', 2));
    for (auto* c : d_->charts) c->set_smoothing(v / 100.0);
  });
  connect(d_->log_y, &QCheckBox::toggled, this, [this](bool on) {
    for (size_t i = 0; i < d_->charts.size(); ++i)
      if (kDashboardKeys[i] == "loss" || kDashboardKeys[i] == "grad_norm")
        d_->charts[i]->set_log_y(on);
  });
  connect(d_->x_axis, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) {
    for (auto* c : d_->charts) c->autoscale();
    d_->dirty = true;
    ++d_->config;
    refresh_async();
  });

  d_->loader = std::make_unique<DashboardLoader>();
  d_->timer = new QTimer(this);
  d_->timer->setInterval(400);
  connect(d_->timer, &QTimer::timeout, this, [this] {
    if (d_->live || d_->dirty) refresh_async();
  });
  d_->timer->start();
}

DashboardView::~DashboardView() {
  d_->timer->stop();
  d_->loader.reset();  // waits for a load in flight; its result is then dropped
}

void DashboardView::set_database(const QString& db_path) {
  if (db_path == d_->db) return;
  d_->db = db_path;
  d_->dirty = true;
  ++d_->config;
  refresh_async();
}

void DashboardView::set_runs(const QList<qint64>& run_ids) {
  d_->runs.assign(run_ids.begin(), run_ids.end());
  for (auto* c : d_->charts) c->autoscale();
  d_->dirty = true;
  ++d_->config;
  d_->live = true;  // until the loader says otherwise
  refresh_async();
}

void DashboardView::set_refresh_interval_ms(int ms) { d_->timer->setInterval(std::max(20, ms)); }

void DashboardView::set_max_points(int points) {
  d_->max_points = std::max(10, points);
  d_->dirty = true;
  ++d_->config;
}

void DashboardView::refresh_async() {
  if (d_->db.isEmpty()) return;
  if (d_->busy) {
    d_->pending = true;
    return;
  }
  d_->busy = true;
  d_->dirty = false;
  const int64_t config = d_->config;
  d_->loader->load(d_->request(), this, [this, config](const DashboardResult& r) {
    d_->busy = false;
    if (config == d_->config)
      apply(r);
    else
      d_->pending = true;  // loaded for runs / axes / zoom no longer shown: load again
    if (d_->pending) {
      d_->pending = false;
      refresh_async();
    }
  });
}

void DashboardView::refresh_now() {
  if (d_->db.isEmpty()) return;
  auto store = store::Store::open_existing(d_->db.toStdString());
  d_->dirty = false;
  apply(load_dashboard(store, d_->request()));
}

void DashboardView::apply(const DashboardResult& r) {
  d_->live = r.live;
  for (size_t i = 0; i < r.charts.size() && i < d_->charts.size(); ++i) {
    report::ChartSpec spec = r.charts[i];
    d_->charts[i]->set_spec(spec);
  }
  QString text = d_->live ? tr("live") : tr("idle");
  if (!r.error.empty()) text = QString::fromStdString(r.error);
  d_->status->setText(text);
  d_->status->setToolTip(text);
}

int DashboardView::chart_count() const { return static_cast<int>(d_->charts.size()); }

plot::MetricChartWidget* DashboardView::chart(int index) const {
  if (index < 0 || index >= chart_count()) return nullptr;
  return d_->charts[static_cast<size_t>(index)];
}

plot::MetricChartWidget* DashboardView::chart_for(const QString& metric_key) const {
  for (size_t i = 0; i < kDashboardKeys.size(); ++i)
    if (QString::fromStdString(kDashboardKeys[i]) == metric_key) return d_->charts[i];
  return nullptr;
}

}  // namespace qatwb::ui
