#include "ui/compare/compare_view.h"

#include <QAbstractItemModel>

namespace qatwb::ui {

struct CompareView::Impl {
  QString db;
  QList<qint64> runs;
};

CompareView::CompareView(QWidget* parent) : QWidget(parent), d_(std::make_unique<Impl>()) {}
CompareView::~CompareView() = default;
void CompareView::set_database(const QString& db_path) { d_->db = db_path; }
void CompareView::set_runs(const QList<qint64>& run_ids) { d_->runs = run_ids; }
QAbstractItemModel* CompareView::summary_model() const { return nullptr; }
QString CompareView::summary_csv() const { return {}; }
QString CompareView::summary_markdown() const { return {}; }
void CompareView::set_small_multiples(bool) {}

}  // namespace qatwb::ui
