// Training cost: FLOPs per token against the closed form written out here, and the peak-memory
// estimate `qatwb project check` prints against the peak RSS (wait4) of real `qatwb run`s of
// llama-micro, llama-tiny and llama-small on this CPU, within 15%.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "core/model/llama_config.h"
#include "core/model/training_cost.h"
#include "tests/common/micro_project.h"
#include "tests/common/test_env.h"

namespace {

// Runs argv and returns the child's peak RSS in bytes (-1 when it failed).
double peak_rss_of(const QStringList& args) {
  std::vector<std::string> s;
  for (const auto& a : args) s.push_back(a.toStdString());
  std::vector<char*> argv;
  for (auto& a : s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return ru.ru_maxrss * 1024.0;
}

}  // namespace

class TstTrainingCost : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void flops_per_token_closed_form() {
    auto c = qatwb::model::preset("llama-tiny", 32000);
    // llama-tiny: 4 layers, hidden 256, 8 heads x 32 (q 256), 4 kv heads (kv 128), mlp 688.
    const double per_layer = 256.0 * 256 * 2 + 256.0 * 128 * 2 + 3.0 * 256 * 688;
    const double matmul = 4 * per_layer + 32000.0 * 256;  // + the lm_head (tied or not)
    const double expected = 6 * matmul + 12.0 * 4 * 256 * 128;
    QCOMPARE(qatwb::model::train_flops_per_token(c, 128), expected);
  }

  void estimate_parts_follow_the_options() {
    const auto c = qatwb::model::preset("llama-small", 32000);
    qatwb::model::MemoryInputs in;
    in.batch = 8;
    in.seq_len = 256;
    const double base = qatwb::model::estimate_training_memory(c, in).total();
    in.activation_checkpointing = true;
    const double ckpt = qatwb::model::estimate_training_memory(c, in).total();
    QVERIFY(ckpt < base);
    in.activation_checkpointing = false;
    in.optimizer_state_bytes = 2;  // bf16 moments: 4 bytes less per parameter
    const double half = qatwb::model::estimate_training_memory(c, in).total();
    QCOMPARE(base - half, 4.0 * c.num_parameters());
  }

  void estimate_within_15_percent_of_measured_rss() { run_cases(); }

 private:
  void run_cases();
};

void TstTrainingCost::run_cases() {
  QTemporaryDir dir;
  const QString corpus = dir.filePath("brown.jsonl");
  qatwb::test::write_brown_corpus(corpus);
  const QString project = qatwb::test::write_micro_project(dir.path(), "mem", corpus);
  struct Case {
    const char* preset;
    int64_t batch, seq;
    bool quant;
  };
  const Case cases[] = {{"llama-micro", 8, 64, false},
                        {"llama-tiny", 8, 128, false},
                        {"llama-tiny", 8, 128, true},
                        {"llama-small", 4, 128, false}};
  int i = 0;
  auto args_of = [&](const Case& k) {
    QStringList args = {qatwb::test::qatwb_bin(),
                        "run",
                        project,
                        "--no-db",
                        "--run-dir",
                        dir.filePath(QString("run%1").arg(i++)),
                        "--set",
                        QString("model.preset=%1").arg(k.preset),
                        "--set",
                        QString("train.batch_size=%1").arg(k.batch),
                        "--set",
                        QString("tokenize.seq_len=%1").arg(k.seq),
                        "--set",
                        "train.steps=2",
                        "--set",
                        "train.threads=2",
                        "--set",
                        "eval.max_windows=1",
                        "--set",
                        "train.detail_every=0"};
    if (k.quant)
      args << "--set"
           << "quant.enabled=true"
           << "--set"
           << "quant.bits=2";
    return args;
  };
  auto estimate = [](const Case& k) {
    qatwb::model::MemoryInputs in;
    in.batch = k.batch;
    in.seq_len = k.seq;
    in.quantized = k.quant;
    const auto c = qatwb::model::preset(k.preset, 32000);  // the Llama-2 tokenizer's vocabulary
    return qatwb::model::estimate_training_memory(c, in).total();
  };
  // A first run fills the token cache, so that no case measures the tokenizer.
  QVERIFY(peak_rss_of(args_of({"llama-micro", 1, 8, false})) > 0);
  QString bad;
  for (const auto& k : cases) {
    const double measured = peak_rss_of(args_of(k));
    QVERIFY2(measured > 0, k.preset);
    const double est = estimate(k);
    const double ratio = est / measured;
    qInfo("%s batch %ld seq %ld%s: estimate %.0f MB, measured %.0f MB (%.3fx)", k.preset,
          static_cast<long>(k.batch), static_cast<long>(k.seq), k.quant ? " W2" : "", est / 1e6,
          measured / 1e6, ratio);
    // Within 15%, or within 100 MB: the process's fixed runtime (LibTorch, BLAS buffers, thread
    // stacks, allocator; 320 MB in the estimate) differs by that much between machines (CI
    // measured llama-micro 100 MB below this machine), which only the smallest model notices.
    if (!(ratio > 0.85 && ratio < 1.15) && std::abs(est - measured) > 100e6)
      bad += QString("%1 (%2x) ").arg(k.preset).arg(ratio);
  }
  QVERIFY2(bad.isEmpty(), qPrintable("estimate off by more than 15%: " + bad));
}

QTEST_APPLESS_MAIN(TstTrainingCost)
#include "tst_training_cost.moc"
