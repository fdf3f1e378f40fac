// "New sweep": the dialog writes a sweep YAML that `qatwb batch --dry-run` (the real CLI) accepts
// and lists; started from the Jobs tab, the real `qatwb batch` runs its points (the fake trainer
// as worker), the sweeps table follows its progress from sweep.json to the end, and its report
// can be opened.
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include "core/store/store.h"
#include "tests/common/micro_project.h"
#include "ui/jobs/jobs_view.h"
#include "ui/jobs/sweep_dialog.h"
#include "ui/jobs/sweep_list_model.h"

using namespace qatwb;

class TestSweepDialog : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void writes_checks_runs_and_reports() {
    const QString fake = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    if (!QFile::exists(fake)) QSKIP("fake_trainer not built");
    QTemporaryDir tmp;
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, tmp.path() + "/settings");
    const QString corpus = tmp.filePath("brown.jsonl");
    test::write_brown_corpus(corpus, {"ca01", "ca02"});
    const QString base = test::write_micro_project(tmp.path(), "base", corpus);
    const QString db = tmp.filePath("runs/qatwb.sqlite");
    store::Store::open(db.toStdString());

    ui::SweepDialog dialog(db, base);
    dialog.findChild<QLineEdit*>("sweep_name")->setText("seeds");
    dialog.findChild<QPlainTextEdit*>("sweep_grid")->setPlainText("train.seed: 0, 1\n");
    dialog.findChild<QPlainTextEdit*>("sweep_set")->setPlainText("train.steps = 6\n");
    dialog.findChild<QLineEdit*>("sweep_group_by")->setText("train.seed");
    dialog.set_worker_command({fake, "--delay-ms", "5"});
    QString error;
    const QString yaml = dialog.sweep_yaml(&error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY2(yaml.contains("\ngrid:\n  train.seed: [0, 1]\n"), qPrintable(yaml));
    QVERIFY2(yaml.contains("\nset:\n  train.steps: 6\n"), qPrintable(yaml));
    QVERIFY2(yaml.contains("\nbase: " + base + "\n"), qPrintable(yaml));
    QCOMPARE(dialog.output_dir(), tmp.filePath("runs/sweeps/seeds"));
    QCOMPARE(dialog.sweep_file(), tmp.filePath("seeds.sweep.yaml"));
    // A bad grid line is refused with its line number.
    dialog.findChild<QPlainTextEdit*>("sweep_grid")->setPlainText("train.seed: 0, 1\nnonsense\n");
    QVERIFY(dialog.sweep_yaml(&error).isEmpty());
    QVERIFY2(error.contains("line 2"), qPrintable(error));
    dialog.findChild<QPlainTextEdit*>("sweep_grid")->setPlainText("train.seed: 0, 1\n");

    // The real CLI's dry run accepts the file and lists both points.
    const QString listed = dialog.check();
    QVERIFY2(QFile::exists(dialog.sweep_file()), qPrintable(listed));
    QVERIFY2(listed.contains("seed-0") && listed.contains("seed-1"), qPrintable(listed));
    QVERIFY2(dialog.findChild<QLabel*>("sweep_message")->text().contains("checked"),
             qPrintable(listed));

    // Started from Jobs: followed to the end, the report openable.
    ui::JobsView jobs(db);
    jobs.show();
    jobs.start_sweep("seeds", dialog.sweep_file(), dialog.output_dir());
    ui::SweepListModel* sweeps = jobs.sweeps();
    QCOMPARE(sweeps->rowCount(), 1);
    QCOMPARE(sweeps->state(0), QString("running"));
    QTRY_VERIFY_WITH_TIMEOUT(sweeps->state(0) != "running", 180000);
    QVERIFY2(sweeps->state(0) == "finished", qPrintable(sweeps->batch_output(0)));
    QCOMPARE(sweeps->total(0), 2);
    QCOMPARE(sweeps->succeeded(0), 2);
    QCOMPARE(sweeps->index(0, ui::SweepListModel::Points).data().toString(),
             QString("2/2 succeeded"));
    QCOMPARE(sweeps->report_html(0), dialog.output_dir() + "/report/report.html");
    QVERIFY(QFileInfo(sweeps->report_html(0)).size() > 0);
    auto* open = jobs.findChild<QPushButton*>("sweep_open_report");
    jobs.findChild<QTableView*>("sweeps_table")->selectRow(0);
    QVERIFY(open->isEnabled());
    // Its runs are in the store.
    auto store = store::Store::open_existing(db.toStdString());
    QCOMPARE(store.list_runs().size(), size_t{2});

    // A second Jobs view (the GUI started again) finds the sweep beside the database.
    ui::JobsView again(db);
    QCOMPARE(again.sweeps()->rowCount(), 1);
    QCOMPARE(again.sweeps()->state(0), QString("found"));
    QCOMPARE(again.sweeps()->succeeded(0), 2);
    QVERIFY(!again.sweeps()->report_html(0).isEmpty());
  }
};

QTEST_MAIN(TestSweepDialog)
#include "tst_sweep_dialog.moc"
