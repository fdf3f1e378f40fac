// Reports end to end: `qatwb batch` runs a 3 surrogates x 2 bit-widths sweep over the fake trainer
// (whose numbers are derived from each point's project, see tests/tools/fake_trainer.cpp), then
// the report's Markdown rows must hold exactly those numbers, the HTML must be self-contained
// (no external src/href; plots embedded as data URIs when drawn), the CSVs must parse, and
// `qatwb report` on demand must give the same table. Plus base64/escaping/grouping units.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <nlohmann/json.hpp>

#include "core/report/report_writer.h"
#include "core/report/summary_table.h"
#include "core/store/store.h"
#include "tests/common/test_env.h"

using nlohmann::json;
using qatwb::test::run_qatwb;

namespace {

// The report plot module that the build puts beside qatwb (app/report_plots.h).
QString plot_module() {
  return QFileInfo(qatwb::test::qatwb_bin()).dir().filePath("libqatwb_report_plots.so");
}

QString read_text(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QString::fromUtf8(f.readAll());
}

// Markdown table rows by their first cell (the run name): column title -> cell.
std::map<QString, std::map<QString, QString>> markdown_rows(const QString& md) {
  std::map<QString, std::map<QString, QString>> rows;
  QStringList header;
  for (const QString& line : md.split('\n')) {
    if (!line.startsWith("| ")) continue;
    QStringList cells = line.mid(2, line.size() - 4).split(" | ");
    if (header.isEmpty()) {
      header = cells;
      continue;
    }
    if (cells.value(0).startsWith("---")) continue;
    if (cells.size() != header.size()) continue;
    for (int i = 0; i < cells.size(); ++i) rows[cells[0]][header[i]] = cells[i];
  }
  return rows;
}

// A CSV line split on commas, honouring double quotes.
QStringList csv_split(const QString& line) {
  QStringList out;
  QString cur;
  bool quoted = false;
  for (int i = 0; i < line.size(); ++i) {
    QChar c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        cur += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        cur += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out << cur;
      cur.clear();
    } else {
      cur += c;
    }
  }
  out << cur;
  return out;
}

}  // namespace

class TestReport : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString sweep_, out_, db_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const QString fake = qEnvironmentVariable("QATWB_FAKE_TRAINER");
    QVERIFY2(QFile::exists(fake), "QATWB_FAKE_TRAINER not built");
    db_ = dir_.filePath("db/qatwb.sqlite");
    out_ = dir_.filePath("sweep-out");
    sweep_ = dir_.filePath("sweep.yaml");
    QFile f(sweep_);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(("name: surrogates\nbase: " + qatwb::test::source_dir() +
             "/projects/tiny-brown/w2-ste.yaml\noutput: sweep-out\nset: {train.steps: 8}\n"
             "grid:\n  quant.surrogate: [ste, stableqat, dsq]\n  quant.bits: [2, 4]\n"
             "concurrency: 3\nreport: {group_by: [quant.bits], title: Surrogates}\n")
                .toUtf8());
    f.close();
    auto r = run_qatwb({"batch", sweep_, "--db", db_, "--poll", "0.1", "--json", "--worker-cmd",
                        fake + " --delay-ms 10"},
                       {}, 180000);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    json j = json::parse(r.out.toStdString(), nullptr, false);
    QVERIFY(j.is_object() && j.contains("report"));
  }

  void markdown_rows_hold_the_emitted_numbers() {
    const QString md = read_text(out_ + "/report/report.md");
    QVERIFY(md.startsWith("# Surrogates"));
    auto rows = markdown_rows(md);
    QCOMPARE(rows.size(), size_t{6});
    // ppl_fp = 20, ppl_rtn = 20 + 2^(6-b), final = rtn - (rtn - fp) * (0.5 + 0.125 k),
    // step time 10 ms * (1 + k/2), flips 0.01 (k+1), loss 10/8 (fake_trainer.cpp's header).
    struct Expect {
      const char* run;
      const char *rtn, *final_ppl, *recovery, *ms, *overhead, *flips;
    };
    const Expect expect[] = {
        {"surrogate-ste_bits-2", "36.00", "28.00", "50.0%", "10.0", "1.00x", "0.0100"},
        {"surrogate-stableqat_bits-2", "36.00", "26.00", "62.5%", "15.0", "1.50x", "0.0200"},
        {"surrogate-dsq_bits-2", "36.00", "24.00", "75.0%", "20.0", "2.00x", "0.0300"},
        {"surrogate-ste_bits-4", "24.00", "22.00", "50.0%", "10.0", "1.00x", "0.0100"},
        {"surrogate-stableqat_bits-4", "24.00", "21.50", "62.5%", "15.0", "1.50x", "0.0200"},
        {"surrogate-dsq_bits-4", "24.00", "21.00", "75.0%", "20.0", "2.00x", "0.0300"},
    };
    for (const auto& e : expect) {
      QVERIFY2(rows.count(e.run), e.run);
      auto& row = rows[e.run];
      QCOMPARE(row["status"], QString("finished"));
      QCOMPARE(row["steps"], QString("8"));
      QCOMPARE(row["loss"], QString("1.2500"));
      QCOMPARE(row["FP ppl"], QString("20.00"));
      QCOMPARE(row["RTN ppl"], QString(e.rtn));
      QCOMPARE(row["final ppl"], QString(e.final_ppl));
      QCOMPARE(row["best ppl"], QString(e.final_ppl));  // the mid-run eval was worse
      QCOMPARE(row["recovery"], QString(e.recovery));
      QCOMPARE(row["ms/step"], QString(e.ms));
      QCOMPARE(row["overhead"], QString(e.overhead));
      QCOMPARE(row["flip rate"], QString(e.flips));
      QCOMPARE(row["project"], QString("surrogates"));
    }
    QVERIFY(md.contains("## bits=2"));
    QVERIFY(md.contains("## bits=4"));
  }

  void html_is_self_contained() {
    const QString html = read_text(out_ + "/report/report.html");
    QVERIFY(html.startsWith("<!DOCTYPE html>"));
    QVERIFY(html.contains("<td>28.00</td>"));
    QVERIFY(!html.contains("href="));
    QVERIFY(!html.contains("<script"));
    QVERIFY(!html.contains("<link"));
    QRegularExpression src("src=\"([^\"]*)\"");
    int images = 0;
    for (auto it = src.globalMatch(html); it.hasNext();) {
      QString value = it.next().captured(1);
      QVERIFY2(value.startsWith("data:image/png;base64,"), qPrintable(value.left(60)));
      QByteArray png = QByteArray::fromBase64(value.mid(22).toLatin1());
      QVERIFY(png.startsWith("\x89PNG\r\n\x1a\n"));
      ++images;
    }
    const QStringList plots = QDir(out_ + "/report/plots").entryList({"*.png"}, QDir::Files);
    QCOMPARE(images, int(plots.size()));
    // Either all plots were drawn (2 groups x 3 metrics) or the report says why not; with the
    // plot module built (the GUI build), they must be drawn.
    const QString md = read_text(out_ + "/report/report.md");
    if (QFile::exists(plot_module())) QVERIFY2(images == 6, qPrintable(md));
    if (images != 6) {
      QVERIFY2(md.contains("Plots skipped") || md.contains("Plot not drawn"), qPrintable(md));
      QWARN("report plots were not drawn (no GUI build or renderer unavailable)");
    } else {
      QVERIFY(md.contains("](plots/loss__bits-2.png)"));
    }
  }

  void csvs_parse() {
    const QStringList lines = read_text(out_ + "/report/summary.csv").trimmed().split('\n');
    QCOMPARE(lines.size(), 7);
    const QStringList header = csv_split(lines[0]);
    const int name = header.indexOf("name"), fin = header.indexOf("ppl_final");
    QVERIFY(name >= 0 && fin >= 0);
    std::map<QString, double> finals;
    for (int i = 1; i < lines.size(); ++i) {
      QStringList cells = csv_split(lines[i]);
      QCOMPARE(cells.size(), header.size());
      finals[cells[name]] = cells[fin].toDouble();
    }
    QCOMPARE(finals["surrogate-stableqat_bits-4"], 21.5);
    QCOMPARE(finals["surrogate-dsq_bits-2"], 24.0);

    const QStringList all = read_text(out_ + "/report/final_metrics.csv").trimmed().split('\n');
    QCOMPARE(all[0], QString("run_id,run,project,key,step,value"));
    bool found = false;
    for (const QString& l : all) {
      QStringList c = csv_split(l);
      QCOMPARE(c.size(), 6);
      if (c[1] == "surrogate-ste_bits-2" && c[3] == "eval/ppl_postquant") {
        QCOMPARE(c[4], QString("8"));
        QCOMPARE(c[5].toDouble(), 28.0);
        found = true;
      }
    }
    QVERIFY(found);
    json j = json::parse(read_text(out_ + "/report/summary.json").toStdString(), nullptr, false);
    QVERIFY(j.is_array() && j.size() == 6);
  }

  void report_on_demand_matches() {
    const QString again = dir_.filePath("again");
    auto r = run_qatwb({"report", "--sweep", sweep_, "--out", again, "--json"}, {}, 120000);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto a = markdown_rows(read_text(out_ + "/report/report.md"));
    auto b = markdown_rows(read_text(again + "/report.md"));
    QCOMPARE(a, b);
    // By run directory too, ungrouped.
    r = run_qatwb({"report", "--db", db_, "--out", dir_.filePath("one"),
                   out_ + "/runs/surrogate-dsq_bits-4"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    auto one = markdown_rows(read_text(dir_.filePath("one/report.md")));
    QCOMPARE(one.size(), size_t{1});
    QCOMPARE(one.begin()->second["final ppl"], QString("21.00"));
    r = run_qatwb({"report", "--db", db_, "--out", dir_.filePath("none"), "no-such-run"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(r.err.contains("no-such-run"));
  }

  // `qatwb` links no Qt (report_plots.h): its ELF needs neither Qt 6 nor QCustomPlot, so every
  // command but the report's plots runs where Qt Widgets is not installed.
  void headless_binary_links_no_qt() {
    QProcess p;
    p.start("readelf", {"-d", qatwb::test::qatwb_bin()});
    QVERIFY2(p.waitForFinished(60000) && p.exitCode() == 0, "readelf -d failed");
    const QString dynamic = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(dynamic.contains("(NEEDED)"), qPrintable(dynamic));
    QVERIFY2(!dynamic.contains("libQt6"), qPrintable(dynamic));
    QVERIFY2(!dynamic.contains("QCustomPlot"), qPrintable(dynamic));
  }

  // A qatwb without its plot module beside it (a build without the GUI) still writes the report
  // and says why the plots are missing; an unloadable module is named with the loader's error.
  void plots_skipped_without_a_loadable_module() {
    QTemporaryDir bin;
    QVERIFY(bin.isValid());
    const QString copy = bin.filePath("qatwb");
    QVERIFY(QFile::copy(qatwb::test::qatwb_bin(), copy));
    QFile(copy).setPermissions(QFile(copy).permissions() | QFileDevice::ExeOwner);
    auto report = [&](const QString& out) {
      QProcess p;
      p.start(copy, {"report", "--db", db_, "--out", out, out_ + "/runs/surrogate-ste_bits-2"});
      if (!p.waitForFinished(120000)) return QString("timeout");
      if (p.exitCode() != 0)
        return "exit " + QString::number(p.exitCode()) + ": " +
               QString::fromUtf8(p.readAllStandardError());
      return read_text(out + "/report.md");
    };
    QString md = report(dir_.filePath("no-module"));
    QVERIFY2(md.contains("Plots skipped: this qatwb was built without the GUI"), qPrintable(md));
    QVERIFY2(md.contains(bin.filePath("libqatwb_report_plots.so")), qPrintable(md));
    QVERIFY(QDir(dir_.filePath("no-module/plots")).entryList({"*.png"}, QDir::Files).isEmpty());
    QVERIFY(markdown_rows(md).count("surrogate-ste_bits-2"));

    QFile bad(bin.filePath("libqatwb_report_plots.so"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("not an ELF file\n");
    bad.close();
    md = report(dir_.filePath("bad-module"));
    QVERIFY2(md.contains("Plots skipped: cannot load the plot module " + bad.fileName()),
             qPrintable(md));
  }

  void helpers() {
    QCOMPARE(qatwb::report::base64_encode(""), std::string(""));
    QCOMPARE(qatwb::report::base64_encode("f"), std::string("Zg=="));
    QCOMPARE(qatwb::report::base64_encode("fo"), std::string("Zm8="));
    QCOMPARE(qatwb::report::base64_encode("foobar"), std::string("Zm9vYmFy"));
    QCOMPARE(qatwb::report::base64_encode(std::string("\xff\x00\x80", 3)), std::string("/wCA"));
    QCOMPARE(qatwb::report::html_escape("<a href=\"x\">&'"),
             std::string("&lt;a href=&quot;x&quot;&gt;&amp;&#39;"));
    QCOMPARE(qatwb::report::file_safe("eval/ppl_postquant"), std::string("eval-ppl_postquant"));
    QCOMPARE(qatwb::report::param_label("2.0"), std::string("2"));
    QCOMPARE(qatwb::report::param_label("1.58"), std::string("1.58"));
    auto store = qatwb::store::Store::open_existing(db_.toStdString());
    std::vector<int64_t> ids;
    for (const auto& r : store.list_runs()) ids.push_back(r.id);
    auto groups = qatwb::report::group_runs(store, ids, {"quant.bits", "quant.surrogate"});
    QCOMPARE(groups.size(), size_t{6});
    auto by_bits = qatwb::report::group_runs(store, ids, {"quant.bits"});
    QCOMPARE(by_bits.size(), size_t{2});
    QCOMPARE(by_bits[0].runs.size(), size_t{3});
  }
};

QTEST_GUILESS_MAIN(TestReport)
#include "tst_report.moc"
