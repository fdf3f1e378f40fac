// The bf16-on-CPU warning: said exactly when the CPU's flags (read here from /proc/cpuinfo with a
// regular expression) have neither avx512_bf16 nor amx_bf16, and only for bf16 on the CPU.
#include <QFile>
#include <QRegularExpression>
#include <QtTest>

#include "core/util/cpu_features.h"

class TstCpuFeatures : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void warning_follows_the_flags() {
    QFile f("/proc/cpuinfo");
    if (!f.open(QIODevice::ReadOnly)) QSKIP("no /proc/cpuinfo");
    const QString text = QString::fromUtf8(f.readAll());
    const auto m =
        QRegularExpression("^flags\\s*:(.*)$", QRegularExpression::MultilineOption).match(text);
    QVERIFY(m.hasMatch());
    const QStringList flags = m.captured(1).split(' ', Qt::SkipEmptyParts);
    const bool native = flags.contains("avx512_bf16") || flags.contains("amx_bf16");
    QCOMPARE(qatwb::util::cpu_has_native_bf16(), native);
    const std::string w = qatwb::util::bf16_cpu_warning("cpu", "bf16");
    QCOMPARE(w.empty(), native);
    if (!native) QVERIFY(w.find("use dtype: fp32") != std::string::npos);
    QVERIFY(qatwb::util::bf16_cpu_warning("cpu", "fp32").empty());
    QVERIFY(qatwb::util::bf16_cpu_warning("cuda", "bf16").empty());
    QVERIFY(qatwb::util::bf16_cpu_warning("cuda:1", "bf16").empty());
  }
};

QTEST_GUILESS_MAIN(TstCpuFeatures)
#include "tst_cpu_features.moc"
