// The sweeps of the Jobs tab: each `qatwb batch` the GUI started (a child process) and the sweeps
// found under <database folder>/sweeps/*/sweep.json, with their progress read from sweep.json
// (points succeeded / failed / in flight of all) and their report (<output>/report/report.html)
// once written.
#pragma once
#include <QAbstractTableModel>
#include <QString>
#include <QTimer>
#include <vector>

namespace qatwb::ui {

class ChildProcess;

class SweepListModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Name, State, Points, Report, ColumnCount };

  explicit SweepListModel(QObject* parent = nullptr);
  ~SweepListModel() override;  // stops the batches it started (their points keep running)

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  // Starts `qatwb batch FILE --db DB` for a sweep whose output folder is `output`.
  void start(const QString& name, const QString& sweep_file, const QString& output,
             const QString& db_path);
  // Lists the sweeps under <database folder>/sweeps that are not listed yet.
  void scan(const QString& db_path);
  void poll();  // re-reads every sweep.json and report (also every second)

  // Per row: "running" (batch in flight), "finished", "failed (exit N)" or, for a sweep found
  // on disk, "found"; points succeeded and total; the report's path ("" until it exists).
  QString state(int row) const;
  int succeeded(int row) const;
  int total(int row) const;
  QString report_html(int row) const;
  QString output(int row) const;
  QString batch_output(int row) const;  // what `qatwb batch` printed

 Q_SIGNALS:
  void sweep_finished(int row, bool ok);

 private:
  struct Entry {
    QString name, file, output;
    ChildProcess* process = nullptr;
    QByteArray printed;
    int exit_code = -1;  // -1: running or never ran here
    bool started_here = false;
    int total = 0, succeeded = 0, failed = 0, active = 0;
    QString report;
  };
  void read_state(Entry& e);
  std::vector<Entry> entries_;
  QTimer timer_;
};

}  // namespace qatwb::ui
