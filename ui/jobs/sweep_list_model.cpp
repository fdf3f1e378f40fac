#include "ui/jobs/sweep_list_model.h"

#include <QDir>
#include <QFileInfo>

#include "core/sweep/sweep_state.h"
#include "ui/widgets/child_process.h"
#include "ui/widgets/qatwb_binary.h"

namespace qatwb::ui {

SweepListModel::SweepListModel(QObject* parent) : QAbstractTableModel(parent) {
  timer_.setInterval(1000);
  connect(&timer_, &QTimer::timeout, this, &SweepListModel::poll);
  timer_.start();
}

SweepListModel::~SweepListModel() {
  for (auto& e : entries_)
    if (e.process) e.process->stop(3000);  // batch stops polling; its points keep running
}

int SweepListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int SweepListModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QString SweepListModel::state(int row) const {
  if (row < 0 || row >= rowCount()) return {};
  const Entry& e = entries_[size_t(row)];
  if (e.process && e.process->running()) return tr("running");
  if (!e.started_here) return tr("found");
  return e.exit_code == 0 ? tr("finished") : tr("failed (exit %1)").arg(e.exit_code);
}

int SweepListModel::succeeded(int row) const {
  return row >= 0 && row < rowCount() ? entries_[size_t(row)].succeeded : 0;
}
int SweepListModel::total(int row) const {
  return row >= 0 && row < rowCount() ? entries_[size_t(row)].total : 0;
}
QString SweepListModel::report_html(int row) const {
  return row >= 0 && row < rowCount() ? entries_[size_t(row)].report : QString();
}
QString SweepListModel::output(int row) const {
  return row >= 0 && row < rowCount() ? entries_[size_t(row)].output : QString();
}
QString SweepListModel::batch_output(int row) const {
  return row >= 0 && row < rowCount() ? QString::fromUtf8(entries_[size_t(row)].printed)
                                      : QString();
}

QVariant SweepListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const Entry& e = entries_[size_t(index.row())];
  if (role == Qt::ToolTipRole) return e.file;
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case Name:
      return e.name;
    case State:
      return state(index.row());
    case Points: {
      QString t = tr("%1/%2 succeeded").arg(e.succeeded).arg(e.total);
      if (e.active) t += tr(", %1 running").arg(e.active);
      if (e.failed) t += tr(", %1 failed").arg(e.failed);
      return t;
    }
    case Report:
      return e.report.isEmpty() ? tr("not yet") : e.report;
  }
  return {};
}

QVariant SweepListModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Name:
      return tr("Sweep");
    case State:
      return tr("State");
    case Points:
      return tr("Points");
    case Report:
      return tr("Report");
  }
  return {};
}

void SweepListModel::read_state(Entry& e) {
  try {
    const auto s = sweep::load_sweep_state((e.output + "/sweep.json").toStdString());
    e.total = static_cast<int>(s.points.size());
    e.succeeded = e.failed = e.active = 0;
    for (const auto& p : s.points) {
      e.succeeded += p.finished();
      e.failed += p.failed();
      e.active += p.active();
    }
  } catch (const std::exception&) {
    // Being rewritten (it is replaced atomically) or not there yet: next poll.
  }
  const QString html = e.output + "/report/report.html";
  e.report = QFileInfo::exists(html) ? html : QString();
}

void SweepListModel::start(const QString& name, const QString& sweep_file, const QString& output,
                           const QString& db_path) {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].output == output && entries_[i].process && entries_[i].process->running())
      return;  // already running
  int row = -1;
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].output == output) row = int(i);
  if (row < 0) {
    beginInsertRows({}, rowCount(), rowCount());
    entries_.push_back({});
    endInsertRows();
    row = rowCount() - 1;
  }
  Entry& e = entries_[size_t(row)];
  e.name = name;
  e.file = sweep_file;
  e.output = output;
  e.started_here = true;
  e.exit_code = -1;
  e.printed.clear();
  if (!e.process) {
    ChildProcess* p = e.process = new ChildProcess(this);
    p->set_merged(true);
    connect(p, &ChildProcess::output, this, [this, p](const QByteArray& bytes) {
      for (auto& x : entries_)
        if (x.process == p) x.printed += bytes;
    });
    connect(p, &ChildProcess::finished, this, [this, p] {
      for (size_t i = 0; i < entries_.size(); ++i) {
        Entry& x = entries_[i];
        if (x.process != p) continue;
        if (p->end() == ChildProcess::End::failed_to_start) {
          x.printed += "cannot start " + p->program().toUtf8() + "\n";
          x.exit_code = 127;
        } else {
          x.exit_code = p->end() == ChildProcess::End::exited ? p->exit_code() : -2;
          read_state(x);
        }
        Q_EMIT dataChanged(index(int(i), 0), index(int(i), ColumnCount - 1));
        Q_EMIT sweep_finished(int(i), x.exit_code == 0);
      }
    });
  }
  e.process->start(qatwb_binary(), {"batch", sweep_file, "--db", db_path});
  Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void SweepListModel::scan(const QString& db_path) {
  const QDir root(QFileInfo(db_path).absoluteDir().filePath("sweeps"));
  for (const QFileInfo& d : root.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
    if (!QFileInfo::exists(d.absoluteFilePath() + "/sweep.json")) continue;
    bool listed = false;
    for (const auto& e : entries_) listed |= e.output == d.absoluteFilePath();
    if (listed) continue;
    Entry e;
    e.name = d.fileName();
    e.output = d.absoluteFilePath();
    try {
      e.file = QString::fromStdString(
          sweep::load_sweep_state((e.output + "/sweep.json").toStdString()).file);
    } catch (const std::exception&) {
    }
    read_state(e);
    beginInsertRows({}, rowCount(), rowCount());
    entries_.push_back(std::move(e));
    endInsertRows();
  }
}

void SweepListModel::poll() {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    const int before = e.succeeded + 1000 * e.active + 100000 * e.failed + 7 * e.total;
    const QString report = e.report;
    read_state(e);
    if (before != e.succeeded + 1000 * e.active + 100000 * e.failed + 7 * e.total ||
        report != e.report)
      Q_EMIT dataChanged(index(int(i), 0), index(int(i), ColumnCount - 1));
  }
}

}  // namespace qatwb::ui
