// The run list: a table over the store's runs, keyed by run id and updated in place
// (dataChanged for changed rows, row inserts for new runs, removals for vanished ones) so that
// views keep their selection across refreshes. RunFilterProxy sorts numbers as numbers and
// filters by text over name, project, surrogate and tags.
#pragma once
#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <vector>

#include "ui/models/run_row.h"

namespace qatwb::ui {

class RunTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    Name,
    Project,
    Surrogate,
    Bits,
    Status,
    Progress,
    LastLoss,
    BestPpl,
    Tags,    // the run's tags ("a, b"); its note is the tooltip
    Folder,  // the run's folder (where a copied runs folder's copy is, resolve_run_dir)
    ColumnCount
  };
  // UserRole: the raw value for sorting (double for numbers, QString otherwise);
  // RunIdRole: the run id (qint64); RunDirRole: the run directory.
  enum Role { SortRole = Qt::UserRole, RunIdRole, RunDirRole };

  explicit RunTableModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  // Merges a fresh snapshot (from load_run_rows) into the table.
  void apply(const std::vector<RunRow>& rows);
  // Opens the store and applies it on this thread (tests, first load).
  void refresh_from(const QString& db_path);

  const RunRow* row_at(int row) const;
  int row_of(qint64 run_id) const;  // -1 if absent
  const std::vector<RunRow>& rows() const { return rows_; }

 private:
  std::vector<RunRow> rows_;
};

class RunFilterProxy : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit RunFilterProxy(QObject* parent = nullptr);
  // Case-insensitive substring over name, project, surrogate and tags; "" shows every run.
  void set_filter_text(const QString& text);
  // Only runs of this project name ("" : every project).
  void set_project(const QString& project);

 protected:
  bool filterAcceptsRow(int source_row, const QModelIndex& source_parent) const override;
  bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

 private:
  QString text_;
  QString project_;
};

}  // namespace qatwb::ui
