// A read-only table model over report::SummaryRow (the compare view's summary table): display
// text from report::summary_cell, numbers for sorting under Qt::UserRole (NaN sorts last).
#pragma once
#include <QAbstractTableModel>
#include <vector>

#include "core/report/summary_table.h"

namespace qatwb::ui {

class SummaryTableModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  explicit SummaryTableModel(QObject* parent = nullptr);

  void set_rows(std::vector<report::SummaryRow> rows);
  const std::vector<report::SummaryRow>& rows() const { return rows_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  std::vector<report::SummaryRow> rows_;
  std::vector<std::string> columns_;
};

}  // namespace qatwb::ui
