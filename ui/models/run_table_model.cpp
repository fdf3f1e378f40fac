#include "ui/models/run_table_model.h"

#include <QColor>
#include <QDir>
#include <cmath>
#include <unordered_map>

#include "core/store/store.h"
#include "ui/plot/chart_render.h"

namespace qatwb::ui {

namespace {

QString number_text(double v, int precision) {
  return std::isnan(v) ? QString() : QString::number(v, 'g', precision);
}

QVariant number_sort(double v) {
  // NaN sorts below every number, so missing values gather at one end.
  return std::isnan(v) ? QVariant(-HUGE_VAL) : QVariant(v);
}

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

RunTableModel::RunTableModel(QObject* parent) : QAbstractTableModel(parent) {}

int RunTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(rows_.size());
}

int RunTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const RunRow& r = rows_[size_t(index.row())];
  if (role == RunIdRole) return QVariant::fromValue<qint64>(r.id);
  if (role == RunDirRole) return qs(r.run_dir);
  if (role == Qt::TextAlignmentRole) {
    const bool numeric = index.column() == Bits || index.column() == Progress ||
                         index.column() == LastLoss || index.column() == BestPpl;
    return QVariant::fromValue(int((numeric ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter));
  }
  // The run's colour (the one its curves have in every chart) as a swatch before its name.
  if (role == Qt::DecorationRole && index.column() == Name) return plot::run_colour(r.colour_index);
  if (role == Qt::ForegroundRole && index.column() == Status) {
    if (r.status == "failed") return QColor(0xc0, 0x39, 0x2b);
    if (r.status == "running") return QColor(0x1f, 0x77, 0xb4);
    return {};
  }
  if (role != Qt::DisplayRole && role != SortRole && role != Qt::ToolTipRole) return {};
  const bool sort = role == SortRole;
  switch (index.column()) {
    case Name:
      return role == Qt::ToolTipRole ? qs(r.run_dir) : qs(r.name);
    case Project:
      return qs(r.project);
    case Surrogate:
      return qs(r.surrogate);
    case Bits:
      return sort ? number_sort(r.bits)
                  : QVariant(std::isnan(r.bits) ? QStringLiteral("16") : number_text(r.bits, 3));
    case Status:
      return qs(r.status);
    case Progress: {
      const double p = r.progress();
      if (sort) return number_sort(p);
      if (r.last_step < 0) return QString();
      if (r.total_steps <= 0) return QString::number(r.steps_done());
      return QStringLiteral("%1/%2 (%3%)")
          .arg(r.steps_done())
          .arg(r.total_steps)
          .arg(int(std::lround(p * 100)));
    }
    case LastLoss:
      return sort ? number_sort(r.last_loss) : QVariant(number_text(r.last_loss, 4));
    case BestPpl:
      return sort ? number_sort(r.best_ppl) : QVariant(number_text(r.best_ppl, 4));
    case Tags: {
      if (role == Qt::ToolTipRole) return r.note.empty() ? QVariant() : QVariant(qs(r.note));
      QStringList tags;
      for (const auto& t : r.tags) tags << qs(t);
      return tags.join(", ");
    }
    case Folder: {
      // Home as ~, so that two copies of a runs folder read apart at a glance.
      QString dir = qs(r.run_dir);
      const QString home = QDir::homePath();
      if (role == Qt::DisplayRole && !home.isEmpty() && home != "/" && dir.startsWith(home + "/"))
        dir = "~" + dir.mid(home.size());
      return dir;
    }
  }
  return {};
}

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation == Qt::Horizontal && role == Qt::ToolTipRole && section == BestPpl)
    return tr("Lowest post-quantization perplexity evaluated (eval/ppl_postquant)");
  if (orientation == Qt::Horizontal && role == Qt::ToolTipRole && section == Tags)
    return tr("Tags and note: right-click a run (or `qatwb runs tag` / `qatwb runs note`)");
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Name:
      return tr("Name");
    case Project:
      return tr("Project");
    case Surrogate:
      return tr("Surrogate");
    case Bits:
      return tr("Bits");
    case Status:
      return tr("Status");
    case Progress:
      return tr("Progress");
    case LastLoss:
      return tr("Last loss");
    case BestPpl:
      return tr("Best PPL");
    case Tags:
      return tr("Tags");
    case Folder:
      return tr("Folder");
  }
  return {};
}

void RunTableModel::apply(const std::vector<RunRow>& fresh) {
  std::unordered_map<int64_t, const RunRow*> by_id;
  for (const auto& r : fresh) by_id[r.id] = &r;
  // Runs that vanished (database replaced): remove them, from the bottom up.
  for (int i = int(rows_.size()) - 1; i >= 0; --i) {
    if (by_id.count(rows_[size_t(i)].id)) continue;
    beginRemoveRows({}, i, i);
    rows_.erase(rows_.begin() + i);
    endRemoveRows();
  }
  // Changed rows: one dataChanged per contiguous range.
  int first_changed = -1;
  auto flush = [&](int end) {
    if (first_changed < 0) return;
    Q_EMIT dataChanged(index(first_changed, 0), index(end - 1, ColumnCount - 1));
    first_changed = -1;
  };
  std::unordered_map<int64_t, bool> known;
  for (size_t i = 0; i < rows_.size(); ++i) {
    known[rows_[i].id] = true;
    const RunRow& now = *by_id[rows_[i].id];
    if (now != rows_[i]) {
      rows_[i] = now;
      if (first_changed < 0) first_changed = int(i);
    } else {
      flush(int(i));
    }
  }
  flush(int(rows_.size()));
  // New runs: appended in one insert.
  std::vector<RunRow> added;
  for (const auto& r : fresh)
    if (!known.count(r.id)) added.push_back(r);
  if (!added.empty()) {
    beginInsertRows({}, int(rows_.size()), int(rows_.size() + added.size()) - 1);
    rows_.insert(rows_.end(), added.begin(), added.end());
    endInsertRows();
  }
}

void RunTableModel::refresh_from(const QString& db_path) {
  const store::Store store = store::Store::open(db_path.toStdString());
  apply(load_run_rows(store));
}

const RunRow* RunTableModel::row_at(int row) const {
  return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int RunTableModel::row_of(qint64 run_id) const {
  for (size_t i = 0; i < rows_.size(); ++i)
    if (rows_[i].id == run_id) return int(i);
  return -1;
}

RunFilterProxy::RunFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(RunTableModel::SortRole);
  setDynamicSortFilter(true);
}

void RunFilterProxy::set_filter_text(const QString& text) {
  text_ = text.trimmed();
  invalidateFilter();
}

void RunFilterProxy::set_project(const QString& project) {
  project_ = project;
  invalidateFilter();
}

bool RunFilterProxy::filterAcceptsRow(int source_row, const QModelIndex& source_parent) const {
  const QAbstractItemModel* m = sourceModel();
  if (!project_.isEmpty() &&
      m->index(source_row, RunTableModel::Project, source_parent).data().toString() != project_)
    return false;
  if (text_.isEmpty()) return true;
  for (int col : {RunTableModel::Name, RunTableModel::Project, RunTableModel::Surrogate,
                  RunTableModel::Tags}) {
    const QString v = m->index(source_row, col, source_parent).data().toString();
    if (v.contains(text_, Qt::CaseInsensitive)) return true;
  }
  return false;
}

bool RunFilterProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
  const QVariant a = left.data(RunTableModel::SortRole), b = right.data(RunTableModel::SortRole);
  if (a.typeId() == QMetaType::Double && b.typeId() == QMetaType::Double)
    return a.toDouble() < b.toDouble();
  return QString::compare(a.toString(), b.toString(), Qt::CaseInsensitive) < 0;
}

}  // namespace qatwb::ui
