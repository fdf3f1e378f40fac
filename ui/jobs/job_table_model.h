// The jobs list: one row per job of the registry (id, project, launcher/host, state, elapsed,
// ETA from the observed steps per second, run directory), updated in place by job id.
#pragma once
#include <QAbstractTableModel>
#include <vector>

#include "core/jobs/job.h"

namespace qatwb::ui {

struct JobRow {
  jobs::Job job;
  int64_t total_steps = 0;  // train.steps of the job's project; 0: unknown
  double now = 0;           // when the row was observed (unix seconds)

  double elapsed_s() const;  // since the job was created (until its last update when finished)
  double eta_s() const;      // remaining steps / observed steps per second; NaN when unknown
};

class JobTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Id, Project, Launcher, State, Elapsed, Eta, RunDir, ColumnCount };
  enum Role { JobIdRole = Qt::UserRole + 1 };

  explicit JobTableModel(QObject* parent = nullptr);
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  void apply(const std::vector<JobRow>& rows);
  const JobRow* row_at(int row) const;
  const JobRow* find(qint64 id) const;
  const std::vector<JobRow>& rows() const { return rows_; }

 private:
  std::vector<JobRow> rows_;
};

QString duration_text(double seconds);  // "42s", "3m 05s", "2h 01m"; "" for NaN

}  // namespace qatwb::ui
