#include "ui/jobs/job_table_model.h"

#include <QColor>
#include <QFileInfo>
#include <cmath>
#include <unordered_map>

namespace qatwb::ui {

double JobRow::elapsed_s() const {
  if (job.created <= 0) return NAN;
  const double end = jobs::is_terminal(job.state) ? job.updated : now;
  return std::max(0.0, end - job.created);
}

double JobRow::eta_s() const {
  if (jobs::is_terminal(job.state)) return 0;
  const double elapsed = elapsed_s();
  if (total_steps <= 0 || job.last_step <= 0 || !(elapsed > 0)) return NAN;
  const double rate = double(job.last_step) / elapsed;
  return std::max(0.0, double(total_steps - job.last_step) / rate);
}

QString duration_text(double s) {
  if (std::isnan(s)) return {};
  const auto t = int64_t(std::llround(s));
  if (t < 60) return QStringLiteral("%1s").arg(t);
  if (t < 3600) return QStringLiteral("%1m %2s").arg(t / 60).arg(t % 60, 2, 10, QChar('0'));
  return QStringLiteral("%1h %2m").arg(t / 3600).arg((t % 3600) / 60, 2, 10, QChar('0'));
}

JobTableModel::JobTableModel(QObject* parent) : QAbstractTableModel(parent) {}

int JobTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(rows_.size());
}
int JobTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant JobTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const JobRow& r = rows_[size_t(index.row())];
  const jobs::Job& j = r.job;
  if (role == JobIdRole) return QVariant::fromValue<qint64>(j.id);
  if (role == Qt::ForegroundRole && index.column() == State) {
    if (j.state == jobs::JobState::Failed || j.state == jobs::JobState::Lost)
      return QColor(0xc0, 0x39, 0x2b);
    if (j.state == jobs::JobState::Running) return QColor(0x1f, 0x77, 0xb4);
    return {};
  }
  if (role == Qt::ToolTipRole && index.column() == State) return QString::fromStdString(j.reason);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case Id:
      return QVariant::fromValue<qint64>(j.id);
    case Project:
      return QFileInfo(QString::fromStdString(j.project)).completeBaseName();
    case Launcher:
      return j.host.empty() ? QString(jobs::to_string(j.launcher))
                            : QString("%1:%2").arg(jobs::to_string(j.launcher),
                                                   QString::fromStdString(j.host));
    case State: {
      QString s = jobs::to_string(j.state);
      if (j.state == jobs::JobState::Running && j.last_step >= 0)
        s += r.total_steps > 0 ? QString(" (step %1/%2)").arg(j.last_step).arg(r.total_steps)
                               : QString(" (step %1)").arg(j.last_step);
      return s;
    }
    case Elapsed:
      return duration_text(r.elapsed_s());
    case Eta:
      return jobs::is_terminal(j.state) ? QString() : duration_text(r.eta_s());
    case RunDir:
      return QString::fromStdString(j.run_dir);
  }
  return {};
}

QVariant JobTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* names[] = {"Id",      "Project", "Launcher",     "State",
                                "Elapsed", "ETA",     "Run directory"};
  return section >= 0 && section < ColumnCount ? tr(names[section]) : QVariant();
}

void JobTableModel::apply(const std::vector<JobRow>& fresh) {
  std::unordered_map<int64_t, const JobRow*> by_id;
  for (const auto& r : fresh) by_id[r.job.id] = &r;
  for (int i = int(rows_.size()) - 1; i >= 0; --i) {
    if (by_id.count(rows_[size_t(i)].job.id)) continue;
    beginRemoveRows({}, i, i);
    rows_.erase(rows_.begin() + i);
    endRemoveRows();
  }
  std::unordered_map<int64_t, bool> known;
  for (size_t i = 0; i < rows_.size(); ++i) {
    known[rows_[i].job.id] = true;
    rows_[i] = *by_id[rows_[i].job.id];  // elapsed time moves every tick
  }
  if (!rows_.empty())
    Q_EMIT dataChanged(index(0, 0), index(int(rows_.size()) - 1, ColumnCount - 1));
  std::vector<JobRow> added;
  for (const auto& r : fresh)
    if (!known.count(r.job.id)) added.push_back(r);
  if (!added.empty()) {
    beginInsertRows({}, int(rows_.size()), int(rows_.size() + added.size()) - 1);
    rows_.insert(rows_.end(), added.begin(), added.end());
    endInsertRows();
  }
}

const JobRow* JobTableModel::row_at(int row) const {
  return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

const JobRow* JobTableModel::find(qint64 id) const {
  for (const auto& r : rows_)
    if (r.job.id == id) return &r;
  return nullptr;
}

}  // namespace qatwb::ui
