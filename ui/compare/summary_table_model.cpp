#include "ui/compare/summary_table_model.h"

#include <QColor>

#include <cmath>
#include <limits>

namespace qatwb::ui {

SummaryTableModel::SummaryTableModel(QObject* parent)
    : QAbstractTableModel(parent), columns_(report::summary_columns()) {}

void SummaryTableModel::set_rows(std::vector<report::SummaryRow> rows) {
  beginResetModel();
  rows_ = std::move(rows);
  endResetModel();
}

int SummaryTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int SummaryTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(columns_.size());
}

QVariant SummaryTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount() || index.column() >= columnCount()) return {};
  const auto& r = rows_[static_cast<size_t>(index.row())];
  const auto col = static_cast<size_t>(index.column());
  switch (role) {
    case Qt::DisplayRole:
      return QString::fromStdString(report::summary_cell(r, col));
    case Qt::UserRole: {  // sort key
      const double v = report::summary_sort_value(r, col);
      if (col >= 5) return std::isfinite(v) ? v : std::numeric_limits<double>::max();
      return QString::fromStdString(report::summary_cell(r, col));
    }
    case Qt::UserRole + 1:
      return static_cast<qint64>(r.run_id);
    case Qt::ForegroundRole:
      if (col == 17 && r.overhead_noisy) return QColor(130, 130, 130);  // noisy: greyed
      return {};
    case Qt::TextAlignmentRole:
      return col >= 5 ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                      : QVariant(Qt::AlignLeft | Qt::AlignVCenter);
    case Qt::ToolTipRole:
      if (col == 17 && r.overhead_noisy)
        return QString(
                   "median ms/step relative to %1, NOISY: the runs' step times were taken at "
                   "different times under different machine load; this ratio is within that "
                   "noise (inside the runs' own step-time spread of %2%, or a run doing more "
                   "work came out faster). Time both runs together to compare speed.")
            .arg(QString::fromStdString(r.overhead_vs))
            .arg(std::isfinite(r.step_time_spread) ? 100 * r.step_time_spread : 0.0, 0, 'f', 0);
      if (col == 17 && !r.overhead_vs.empty())
        return QString("median ms/step relative to %1").arg(QString::fromStdString(r.overhead_vs));
      if (col == 12) return QString("(PPL_RTN - PPL_final) / (PPL_RTN - PPL_FP)");
      if (col == 5)
        return QString(
            "bits per weight of the whole model, scales included (embeddings, norms "
            "and unquantized Linears at 16)");
      return {};
    default:
      return {};
  }
}

QVariant SummaryTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole || orientation != Qt::Horizontal) return {};
  if (section < 0 || section >= columnCount()) return {};
  return QString::fromStdString(columns_[static_cast<size_t>(section)]);
}

}  // namespace qatwb::ui
