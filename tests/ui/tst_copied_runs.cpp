// A copied runs folder (database and run folders together): the store keeps the originals'
// absolute paths, yet the run table's Folder column and its run directory (what the export
// dialog and the log pane use) point into the copy, so two copies read apart and an export
// defaults into the copy; the original database keeps its own folders.
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QLineEdit>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>

#include "core/run/event_log.h"
#include "core/store/store.h"
#include "ui/export/export_dialog.h"
#include "ui/main/main_window.h"
#include "ui/models/run_table_model.h"

using namespace qatwb;

namespace {

void copy_tree(const QString& from, const QString& to) {
  QDirIterator it(from, QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot,
                  QDirIterator::Subdirectories);
  while (it.hasNext()) {
    const QString f = it.next();
    const QString target = to + f.mid(from.size());
    QDir().mkpath(QFileInfo(target).absolutePath());
    QVERIFY(QFile::copy(f, target));
  }
}

}  // namespace

class TestCopiedRuns : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void folders_point_into_the_copy() {
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString orig = tmp.path() + "/orig", copy = tmp.path() + "/copy";
    const QString orig_db = orig + "/runs/qatwb.sqlite";
    {
      auto store = store::Store::open(orig_db.toStdString());
      for (const char* name : {"w2-ste", "w2-dsq"}) {
        const QString dir = orig + "/runs/tiny/" + name;
        QDir().mkpath(dir);
        {
          run::EventWriter w((dir + "/events.jsonl").toStdString());
          run::StartInfo s;
          s.run = name;
          s.project = "tiny";
          w.start(s);
          w.metric(0, {{"loss", 1.0}});
          w.end("finished", "");
        }
        store.ingest_run_dir(dir.toStdString());
      }
    }
    copy_tree(orig, copy);

    ui::RunTableModel copied;
    copied.refresh_from(copy + "/runs/qatwb.sqlite");
    ui::RunTableModel original;
    original.refresh_from(orig_db);
    QCOMPARE(copied.rowCount(), 2);
    for (int r = 0; r < 2; ++r) {
      const QString name = copied.index(r, ui::RunTableModel::Name).data().toString();
      const QString want = copy + "/runs/tiny/" + name;
      QCOMPARE(copied.index(r, 0).data(ui::RunTableModel::RunDirRole).toString(), want);
      QCOMPARE(copied.index(r, ui::RunTableModel::Folder).data().toString(), want);
      QCOMPARE(original.index(r, 0).data(ui::RunTableModel::RunDirRole).toString(),
               orig + "/runs/tiny/" + original.index(r, 0).data().toString());
    }

    // The export dialog of a run of the copy starts from the copy.
    ui::MainWindow w(copy + "/runs/qatwb.sqlite");
    w.set_persistent(false);
    w.refresh_runs_now();
    w.select_all_runs();
    w.export_selected();
    auto* dialog = w.findChild<ui::ExportDialog*>();
    QVERIFY(dialog);
    const QString source = dialog->findChild<QLineEdit*>("source")->text();
    QVERIFY2(source.startsWith(copy + "/runs/tiny/"), qPrintable(source));
  }
};

QTEST_MAIN(TestCopiedRuns)
#include "tst_copied_runs.moc"
