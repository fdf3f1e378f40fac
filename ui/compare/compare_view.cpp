#include "ui/compare/compare_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>
#include <functional>

#include "core/report/chart_spec.h"
#include "core/report/summary_table.h"
#include "core/store/store.h"
#include "ui/compare/summary_table_model.h"
#include "ui/plot/chart_render.h"
#include "ui/plot/metric_chart_widget.h"

namespace qatwb::ui {

namespace {

const std::vector<std::string> kCompareKeys = {"eval/ppl_postquant", "loss", "grad_norm",
                                               "code_flip_fraction", "step_time_s"};

}  // namespace

struct CompareView::Impl {
  QString db;
  std::unique_ptr<store::Store> store;
  std::vector<int64_t> runs;
  QListWidget* run_list = nullptr;
  QCheckBox* small_multiples = nullptr;
  QComboBox* metric = nullptr;
  QWidget* panel_host = nullptr;
  QGridLayout* panels = nullptr;
  std::vector<plot::MetricChartWidget*> charts;
  SummaryTableModel* model = nullptr;
  QSortFilterProxyModel* proxy = nullptr;
  QLabel* message = nullptr;
  QTableView* table = nullptr;
  bool updating_list = false;
  std::vector<std::function<void()>> chart_loaders;  // re-read chart i (keeps its zoom)
  QTimer* timer = nullptr;
  std::string version;  // data_version() when last loaded
};

CompareView::CompareView(QWidget* parent) : QWidget(parent), d_(std::make_unique<Impl>()) {
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(Qt::Horizontal, this);
  layout->addWidget(split);

  auto* left = new QWidget(split);
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  left_layout->addWidget(new QLabel(tr("Runs"), left));
  d_->run_list = new QListWidget(left);
  left_layout->addWidget(d_->run_list);
  split->addWidget(left);

  auto* right = new QSplitter(Qt::Vertical, split);
  auto* top = new QWidget(right);
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  auto* bar = new QHBoxLayout;
  d_->small_multiples = new QCheckBox(tr("Small multiples (one panel per run)"), top);
  bar->addWidget(d_->small_multiples);
  bar->addWidget(new QLabel(tr("Metric"), top));
  d_->metric = new QComboBox(top);
  for (const auto& k : kCompareKeys) d_->metric->addItem(QString::fromStdString(k));
  d_->metric->setEnabled(false);
  bar->addWidget(d_->metric);
  bar->addStretch(1);
  d_->message = new QLabel(top);
  bar->addWidget(d_->message);
  top_layout->addLayout(bar);
  d_->panel_host = new QWidget(top);
  d_->panels = new QGridLayout(d_->panel_host);
  auto* scroll = new QScrollArea(top);
  scroll->setWidgetResizable(true);
  scroll->setWidget(d_->panel_host);
  top_layout->addWidget(scroll, 1);
  right->addWidget(top);

  auto* bottom = new QWidget(right);
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  auto* table_bar = new QHBoxLayout;
  auto* filter = new QLineEdit(bottom);
  filter->setPlaceholderText(tr("Filter runs..."));
  filter->setClearButtonEnabled(true);
  table_bar->addWidget(filter, 1);
  auto* csv = new QPushButton(tr("Export CSV..."), bottom);
  auto* md = new QPushButton(tr("Export Markdown..."), bottom);
  table_bar->addWidget(csv);
  table_bar->addWidget(md);
  bottom_layout->addLayout(table_bar);
  d_->model = new SummaryTableModel(this);
  d_->proxy = new QSortFilterProxyModel(this);
  d_->proxy->setSourceModel(d_->model);
  d_->proxy->setSortRole(Qt::UserRole);
  d_->proxy->setFilterKeyColumn(-1);
  d_->proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
  auto* table = new QTableView(bottom);
  table->setModel(d_->proxy);
  table->setSortingEnabled(true);
  table->sortByColumn(-1, Qt::AscendingOrder);
  table->setSelectionBehavior(QAbstractItemView::SelectRows);
  table->verticalHeader()->setVisible(false);
  table->setTextElideMode(Qt::ElideMiddle);
  d_->table = table;
  {
    // The comparison first (status, steps, final / best perplexity, recovery), then the rest.
    const auto cols = report::summary_columns();
    QHeaderView* h = table->horizontalHeader();
    int visual = 0;
    for (const char* title :
         {"run", "status", "steps", "final ppl", "recovery", "best ppl", "bpw"}) {
      const int c = static_cast<int>(std::find(cols.begin(), cols.end(), title) - cols.begin());
      if (c < static_cast<int>(cols.size())) h->moveSection(h->visualIndex(c), visual++);
    }
  }
  // Sized to the rows on each load, a wide cell (a long scheme or name) elided.
  connect(d_->model, &QAbstractItemModel::modelReset, table, [table] {
    table->resizeColumnsToContents();
    QHeaderView* h = table->horizontalHeader();
    for (int c = 0; c < h->count(); ++c) h->resizeSection(c, std::min(h->sectionSize(c), 140));
  });
  bottom_layout->addWidget(table);
  right->addWidget(bottom);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  // Panels get two thirds of the height, the table the rest; the run list stays narrow.
  right->setStretchFactor(0, 2);
  right->setStretchFactor(1, 1);
  right->setSizes({600, 300});
  split->setSizes({220, 1000});

  connect(filter, &QLineEdit::textChanged, d_->proxy, &QSortFilterProxyModel::setFilterFixedString);
  connect(d_->small_multiples, &QCheckBox::toggled, this, [this](bool on) {
    d_->metric->setEnabled(on);
    rebuild_charts();
  });
  connect(d_->metric, qOverload<int>(&QComboBox::currentIndexChanged), this,
          [this](int) { rebuild_charts(); });
  connect(d_->run_list, &QListWidget::itemChanged, this, [this](QListWidgetItem* item) {
    if (d_->updating_list) return;
    // Newly checked runs go last; the order of the others is kept.
    const int64_t id = item->data(Qt::UserRole).toLongLong();
    auto it = std::find(d_->runs.begin(), d_->runs.end(), id);
    if (item->checkState() == Qt::Checked && it == d_->runs.end()) d_->runs.push_back(id);
    if (item->checkState() != Qt::Checked && it != d_->runs.end()) d_->runs.erase(it);
    reload_data();
  });
  auto save = [this](const QString& title, const QString& filter, const QString& text) {
    const QString path = QFileDialog::getSaveFileName(this, title, {}, filter);
    if (path.isEmpty()) return;
    QFile f(path);
    const QByteArray data = text.toUtf8();
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(data) != data.size())
      QMessageBox::warning(this, tr("Export failed"), path + ": " + f.errorString());
  };
  d_->timer = new QTimer(this);
  d_->timer->setInterval(2000);
  connect(d_->timer, &QTimer::timeout, this, [this] {
    if (isVisible()) poll_now();
  });
  d_->timer->start();
  connect(csv, &QPushButton::clicked, this,
          [this, save] { save(tr("Export CSV"), "CSV (*.csv)", summary_csv()); });
  connect(md, &QPushButton::clicked, this,
          [this, save] { save(tr("Export Markdown"), "Markdown (*.md)", summary_markdown()); });
}

CompareView::~CompareView() = default;

void CompareView::set_database(const QString& db_path) {
  d_->db = db_path;
  d_->store.reset();
  try {
    d_->store = std::make_unique<store::Store>(store::Store::open_existing(db_path.toStdString()));
    d_->message->clear();
  } catch (const std::exception& e) {
    d_->message->setText(QString::fromUtf8(e.what()));
  }
  reload();
}

void CompareView::set_runs(const QList<qint64>& run_ids) {
  d_->runs.assign(run_ids.begin(), run_ids.end());
  if (d_->run_list->count() == 0) {
    reload();
    return;
  }
  sync_checks();
  reload_data();
}

void CompareView::reload() {
  // The run list: every run of the database (oldest first), the compared ones checked. Items
  // already listed are updated in place, so the list keeps its scroll position and checks.
  d_->updating_list = true;
  if (!d_->store) d_->run_list->clear();
  if (d_->store) {
    try {
      std::vector<store::RunInfo> runs = d_->store->list_runs();
      std::sort(runs.begin(), runs.end(),
                [](const store::RunInfo& a, const store::RunInfo& b) { return a.id < b.id; });
      const std::map<int64_t, int> colours = report::colour_indices(*d_->store);
      std::map<int64_t, QListWidgetItem*> listed;
      for (int i = 0; i < d_->run_list->count(); ++i)
        listed[d_->run_list->item(i)->data(Qt::UserRole).toLongLong()] = d_->run_list->item(i);
      for (const auto& r : runs) {
        QListWidgetItem* item = listed.count(r.id) ? listed[r.id] : nullptr;
        if (!item) {
          item = new QListWidgetItem(d_->run_list);
          item->setData(Qt::UserRole, static_cast<qint64>(r.id));
          item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        }
        item->setText(
            QString::fromStdString(r.project.empty() ? r.name : r.project + "/" + r.name));
        item->setToolTip(QString::fromStdString(r.run_dir + " (" + r.status + ")"));
        item->setData(Qt::DecorationRole,
                      plot::run_colour(colours.count(r.id) ? colours.at(r.id) : 0));
        const bool on = std::find(d_->runs.begin(), d_->runs.end(), r.id) != d_->runs.end();
        item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
      }
    } catch (const std::exception& e) {
      d_->message->setText(QString::fromUtf8(e.what()));
    }
  }
  d_->updating_list = false;
  reload_data();
}

std::string CompareView::data_version() const {
  if (!d_->store) return {};
  std::string v;
  for (const auto& r : d_->store->list_runs())
    v += std::to_string(r.id) + ":" + r.status + ":" + std::to_string(r.last_step) + ":" +
         std::to_string(d_->store->ingested_bytes(r.id)) + ";";
  return v;
}

void CompareView::set_refresh_interval_ms(int ms) { d_->timer->setInterval(std::max(50, ms)); }

bool CompareView::poll_now() {
  if (!d_->store) return false;
  std::string v;
  try {
    v = data_version();
  } catch (const std::exception& e) {
    d_->message->setText(QString::fromUtf8(e.what()));
    return false;
  }
  if (v == d_->version) return false;
  // New runs join the list; the table and the charts of the compared runs are read again.
  reload();
  return true;
}

void CompareView::sync_checks() {
  d_->updating_list = true;
  for (int i = 0; i < d_->run_list->count(); ++i) {
    auto* item = d_->run_list->item(i);
    const int64_t id = item->data(Qt::UserRole).toLongLong();
    const bool on = std::find(d_->runs.begin(), d_->runs.end(), id) != d_->runs.end();
    item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
  }
  d_->updating_list = false;
}

void CompareView::reload_data() {
  std::vector<report::SummaryRow> rows;
  if (d_->store) {
    try {
      d_->version = data_version();
      rows = report::summary_rows(*d_->store, d_->runs);
    } catch (const std::exception& e) {
      d_->message->setText(QString::fromUtf8(e.what()));
    }
  }
  // Same runs as the charts show: re-read them in place (zoom kept); otherwise new panels.
  std::vector<int64_t> shown;
  for (const auto& r : d_->model->rows()) shown.push_back(r.run_id);
  const bool same_runs = shown == d_->runs && !d_->charts.empty();
  d_->model->set_rows(std::move(rows));
  if (same_runs) {
    for (auto& load : d_->chart_loaders) load();
  } else {
    rebuild_charts();
  }
}

void CompareView::rebuild_charts() {
  for (auto* c : d_->charts) {
    d_->panels->removeWidget(c);
    c->deleteLater();
  }
  d_->charts.clear();
  d_->chart_loaders.clear();
  if (!d_->store || d_->runs.empty()) return;
  struct Panel {
    std::string key;
    std::vector<int64_t> runs;
  };
  std::vector<Panel> panels;
  if (d_->small_multiples->isChecked()) {
    const std::string key = d_->metric->currentText().toStdString();
    for (int64_t r : d_->runs) panels.push_back({key, {r}});
  } else {
    for (const auto& k : kCompareKeys) panels.push_back({k, d_->runs});
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    auto* c = new plot::MetricChartWidget(d_->panel_host);
    c->setMinimumHeight(240);
    if (panels[i].key == "grad_norm") c->set_grad_norm_view(true);
    const auto load = [this, c, p = panels[i]] {
      if (!d_->store) return;
      report::ChartQuery q;
      q.max_points = 1000;
      q.step_min = c->zoom_step_min();
      q.step_max = c->zoom_step_max();
      try {
        auto spec = report::metric_chart(*d_->store, p.runs, p.key, q);
        if (p.runs.size() == 1 && !spec.series.empty())
          spec.title += " \u2014 " + spec.series.front().label;
        c->set_spec(spec);
      } catch (const std::exception& e) {
        d_->message->setText(QString::fromUtf8(e.what()));
      }
    };
    load();
    // Zoom: finer buckets for the visible steps.
    connect(c, &plot::MetricChartWidget::step_range_changed, c, load);
    d_->panels->addWidget(c, static_cast<int>(i / 2), static_cast<int>(i % 2));
    d_->charts.push_back(c);
    d_->chart_loaders.push_back(load);
  }
}

QAbstractItemModel* CompareView::summary_model() const { return d_->model; }

QString CompareView::summary_csv() const {
  return QString::fromStdString(report::summary_csv(d_->model->rows()));
}

QString CompareView::summary_markdown() const {
  return QString::fromStdString(report::summary_markdown(d_->model->rows()));
}

void CompareView::set_small_multiples(bool on) { d_->small_multiples->setChecked(on); }

int CompareView::panel_count() const { return static_cast<int>(d_->charts.size()); }

plot::MetricChartWidget* CompareView::panel(int index) const {
  if (index < 0 || index >= panel_count()) return nullptr;
  return d_->charts[static_cast<size_t>(index)];
}

}  // namespace qatwb::ui
