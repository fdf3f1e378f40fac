// EASGD (core/train/easgd.h) over real c10d process groups: ranks are threads of this process,
// each joining a Gloo group through a TCPStore on 127.0.0.1, so the elastic updates go through
// the same all-reduce and broadcast code as `qatwb run --nproc N`. Then end-to-end runs of the
// real worker with two ranks: per-worker metrics, the centre as the final model, per-worker
// rounding, and a bit-exact resume of the sequential (SupportiveQAT) variant.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <functional>
#include <thread>

#include "core/model/hf_checkpoint.h"
#include "core/model/safetensors.h"
#include "core/project/project_yaml.h"
#include "core/train/checkpoint.h"
#include "core/train/easgd.h"
#include "tests/common/daemons.h"
#include "tests/common/micro_project.h"
#include "tests/common/run_events.h"
#include "tests/common/test_env.h"

namespace {

using qatwb::project::EasgdSection;
using qatwb::train::DataParallel;
using qatwb::train::DistEnv;
using qatwb::train::ElasticAveraging;

struct WorkerResult {
  std::vector<torch::Tensor> params, centre;
  std::vector<std::vector<double>> distances;  // one entry per update
};

// Runs `body(rank, easgd, result)` on `p` threads, each a rank of a fresh process group, with
// the rank's starting parameters from `init(rank)`.
std::vector<WorkerResult> run_workers(
    int p, const EasgdSection& cfg, const std::function<std::vector<torch::Tensor>(int)>& init,
    const std::function<void(int, ElasticAveraging&, WorkerResult&)>& body) {
  const int port = qatwb::test::free_tcp_port();
  std::vector<WorkerResult> results(p);
  std::vector<std::string> errors(p);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < p; ++rank)
    threads.emplace_back([&, rank] {
      try {
        DistEnv env;
        env.rank = rank;
        env.local_rank = rank;
        env.world_size = p;
        env.master_port = port;
        DataParallel dp(env);
        auto params = init(rank);
        ElasticAveraging easgd(cfg, &dp, params);
        body(rank, easgd, results[rank]);
        results[rank].params = easgd.params();
        results[rank].centre = easgd.centre();
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < p; ++rank)
    if (!errors[rank].empty()) qFatal("rank %d: %s", rank, errors[rank].c_str());
  return results;
}

torch::Tensor vec(std::vector<float> v) { return torch::tensor(v, torch::kFloat32); }

bool same(const torch::Tensor& a, const torch::Tensor& b) { return torch::equal(a, b); }
bool close(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::allclose(a, b, 1e-6, 1e-6);
}

}  // namespace

class TestEasgd : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString corpus_;

  QString write_project(const QString& name, const QString& train_extra, const QString& rest) {
    return qatwb::test::write_micro_project(dir_.path(), name, corpus_, train_extra, rest);
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    corpus_ = dir_.filePath("corpus.jsonl");
    qatwb::test::write_brown_corpus(corpus_, {"ca01", "ca02", "cb01", "cc01", "cd01", "ce01"});
  }

  void symmetric_update_matches_closed_form() {
    EasgdSection cfg;
    cfg.enabled = true;
    cfg.alpha = 0.25;
    cfg.beta = 0.6;
    const int p = 3;
    auto x = [](int i) { return vec({1.f * (i + 1), -2.f * (i + 1), 0.5f}); };
    const auto c0 = vec({0.5f, 0.5f, 0.5f});
    auto res = run_workers(
        p, cfg, [&](int i) { return std::vector<torch::Tensor>{x(i).clone()}; },
        [&](int, ElasticAveraging& e, WorkerResult& r) {
          e.set_centre({c0});
          r.distances.push_back(e.update());
        });
    torch::Tensor sum_d = torch::zeros(3);
    for (int i = 0; i < p; ++i) sum_d += x(i) - c0;
    const auto centre = c0 + (cfg.beta / p) * sum_d;
    for (int i = 0; i < p; ++i) {
      const auto expect = x(i) - cfg.alpha * (x(i) - c0);
      QVERIFY2(close(res[i].params[0], expect), qPrintable(QString("worker %1").arg(i)));
      QVERIFY(close(res[i].centre[0], centre));
      QVERIFY(same(res[i].centre[0], res[0].centre[0]));  // bit-identical copies on every rank
      for (int j = 0; j < p; ++j)
        QVERIFY(std::abs(res[i].distances[0][j] - (x(j) - c0).norm().item<double>()) < 1e-5);
    }
  }

  void sequential_update_matches_closed_form() {
    // SupportiveQAT's variant: workers in turn, the centre moving by each worker's own beta
    // before the next worker's difference is taken.
    EasgdSection cfg;
    cfg.enabled = true;
    cfg.mode = EasgdSection::Mode::Sequential;
    cfg.alpha = 0.3;
    cfg.worker_betas = {0.5, 0.9};
    auto x = [](int i) { return vec({2.f + i, -1.f * i, 4.f}); };
    const auto c0 = vec({0.f, 1.f, 2.f});
    auto res = run_workers(
        2, cfg, [&](int i) { return std::vector<torch::Tensor>{x(i).clone()}; },
        [&](int, ElasticAveraging& e, WorkerResult&) {
          e.set_centre({c0});
          e.update();
        });
    const auto d0 = x(0) - c0;
    const auto c1 = c0 + 0.5 * d0;
    const auto d1 = x(1) - c1;
    const auto c2 = c1 + 0.9 * d1;
    QVERIFY(close(res[0].params[0], x(0) - 0.3 * d0));
    QVERIFY(close(res[1].params[0], x(1) - 0.3 * d1));
    QVERIFY(close(res[0].centre[0], c2));
    QVERIFY(same(res[0].centre[0], res[1].centre[0]));
    // Turns and periods: 2 workers, stickiness 5 -> worker 0 on steps 0-4, worker 1 on 5-9,
    // elastic update after every 10 steps.
    cfg.stickiness = 5;
    auto turns = run_workers(
        2, cfg, [&](int) { return std::vector<torch::Tensor>{vec({0.f})}; },
        [&](int rank, ElasticAveraging& e, WorkerResult&) {
          for (int64_t s = 0; s < 20; ++s) {
            const bool mine = (s % 10 < 5) == (rank == 0);
            if (e.trains_at(s) != mine)
              throw std::runtime_error("wrong turn at " + std::to_string(s));
          }
          if (e.update_due(5) || !e.update_due(10) || e.update_due(15) || !e.update_due(20))
            throw std::runtime_error("wrong period");
        });
    QCOMPARE(turns.size(), size_t{2});
  }

  void zero_rates_leave_workers_independent() {
    EasgdSection cfg;
    cfg.enabled = true;
    cfg.alpha = 0;
    cfg.beta = 0;
    cfg.tau = 2;
    const auto start = vec({1.f, 2.f, 3.f, 4.f});
    auto res = run_workers(
        3, cfg, [&](int) { return std::vector<torch::Tensor>{start.clone()}; },
        [&](int rank, ElasticAveraging& e, WorkerResult&) {
          torch::NoGradGuard no_grad;
          for (int64_t step = 1; step <= 6; ++step) {
            // Different "gradients" on every worker.
            e.params()[0].sub_(0.1 * (rank + 1) * torch::sin(e.params()[0] + step));
            if (e.update_due(step)) e.update();
          }
        });
    // Each worker followed its own trajectory exactly, as if alone; the centre never moved.
    for (int rank = 0; rank < 3; ++rank) {
      auto alone = start.clone();
      for (int64_t step = 1; step <= 6; ++step)
        alone.sub_(0.1 * (rank + 1) * torch::sin(alone + step));
      QVERIFY(same(res[rank].params[0], alone));
      QVERIFY(same(res[rank].centre[0], start));
    }
    QVERIFY(!same(res[0].params[0], res[1].params[0]));
  }

  void identical_workers_stay_identical() {
    // Same start, same data (the same deterministic "gradients") on every worker: the workers
    // stay bit-identical to each other, and the centre follows c += beta (x - c) exactly as a
    // single worker's centre would.
    EasgdSection cfg;
    cfg.enabled = true;
    cfg.alpha = 0.2;
    cfg.beta = 0.75;
    cfg.tau = 3;
    const auto start = vec({0.3f, -0.7f, 1.1f});
    auto step_fn = [](const torch::Tensor& x, int64_t step) {
      x.sub_(0.05 * torch::cos(x * step));
    };
    auto res = run_workers(
        3, cfg, [&](int) { return std::vector<torch::Tensor>{start.clone()}; },
        [&](int, ElasticAveraging& e, WorkerResult&) {
          torch::NoGradGuard no_grad;
          for (int64_t step = 1; step <= 12; ++step) {
            step_fn(e.params()[0], step);
            if (e.update_due(step)) e.update();
          }
        });
    auto x = start.clone(), c = start.clone();
    for (int64_t step = 1; step <= 12; ++step) {
      step_fn(x, step);
      if (step % 3 == 0) {
        auto d = x - c;
        x -= cfg.alpha * d;
        c += cfg.beta * d;
      }
    }
    for (int rank = 0; rank < 3; ++rank) {
      QVERIFY(same(res[rank].params[0], res[0].params[0]));
      QVERIFY(same(res[rank].centre[0], res[0].centre[0]));
      QVERIFY(close(res[rank].params[0], x));
      QVERIFY(close(res[rank].centre[0], c));
    }
  }

  void project_section_is_validated() {
    const QString bad =
        write_project("easgd_bad", "",
                      "quant: {enabled: true, bits: 2, surrogate: stableqat}\n"
                      "easgd: {alpha: 1.5, tau: 0, rounding: [nearest, sideways, up]}\n");
    try {
      qatwb::project::load_project(bad.toStdString());
      QFAIL("accepted a bad easgd section");
    } catch (const qatwb::Error& e) {
      const QString msg = e.what();
      QVERIFY2(msg.contains("easgd.alpha") && msg.contains("easgd.tau") &&
                   msg.contains("easgd.rounding[1]") && msg.contains("remainder"),
               qPrintable(msg));
      QVERIFY(msg.contains("easgd_bad.yaml:"));
    }
  }

  void two_workers_train_and_export_the_centre() {
    // Symmetric EASGD over 2 ranks with LSQ at W2, the second worker rounding up.
    const QString project =
        write_project("easgd_sym", "  checkpoint_every: 4\n",
                      "quant: {enabled: true, bits: 2, surrogate: lsq}\n"
                      "easgd: {alpha: 0.3, beta: 0.8, tau: 2, rounding: [nearest, up]}\n");
    const QString run = dir_.filePath("runs/sym");
    QCOMPARE(qatwb::test::run_qatwb_env(
                 {"run", project, "--run-dir", run, "--no-db", "--nproc", "2"}, {})
                 .exit_code,
             0);
    const auto w0 = qatwb::test::run_metric(run, "worker_loss/0");
    const auto w1 = qatwb::test::run_metric(run, "worker_loss/1");
    QCOMPARE(w0.size(), size_t{8});
    QCOMPARE(w1.size(), size_t{8});
    QVERIFY(w0.at(0) != w1.at(0));  // disjoint data
    const auto dist = qatwb::test::run_metric(run, "easgd/distance/1");
    QCOMPARE(dist.size(), size_t{4});  // after steps 2, 4, 6, 8
    QVERIFY(dist.at(1) > 0);
    QCOMPARE(qatwb::test::run_events_of_type(run, "start").size(), size_t{1});
    QVERIFY(
        qatwb::test::run_events_of_type(run, "eval").back()["values"].contains("ppl_postquant"));

    // The final model is the centre of the last checkpoint; the workers' replicas differ.
    const std::string last = (run + "/checkpoints/step-00000008").toStdString();
    auto centre = qatwb::train::read_checkpoint_tensors(last, "easgd_centre.safetensors");
    auto final_model = qatwb::model::load_hf((run + "/model").toStdString(), torch::kCPU);
    auto worker1 = qatwb::model::load_hf(
        (run + "/checkpoints/workers/rank-1/step-00000008/model").toStdString(), torch::kCPU);
    std::map<std::string, torch::Tensor> by_name(centre.begin(), centre.end());
    size_t k = 0, differing = 0;
    auto w1_params = worker1->parameters();
    for (const auto& p : final_model->parameters()) {
      char name[32];
      std::snprintf(name, sizeof name, "param.%05zu", k);
      QVERIFY(by_name.count(name));
      QVERIFY2(same(p, by_name[name]), name);
      if (!same(p, w1_params[k])) ++differing;
      ++k;
    }
    QVERIFY(differing > 0);
  }

  void sequential_resume_is_bit_exact() {
    const QString project = write_project(
        "easgd_seq", "  checkpoint_every: 2\n",
        "quant: {enabled: true, bits: 2, surrogate: ste}\n"
        "easgd: {mode: sequential, alpha: 0.3, stickiness: 2, worker_betas: [0.5, 0.9]}\n");
    const QString full = dir_.filePath("runs/seq_full"), cut = dir_.filePath("runs/seq_cut");
    QCOMPARE(qatwb::test::run_qatwb_env(
                 {"run", project, "--run-dir", full, "--no-db", "--nproc", "2"}, {})
                 .exit_code,
             0);
    // Turns of 2 steps: worker 0 trains steps 0-1 and 4-5, worker 1 steps 2-3 and 6-7.
    const auto w0 = qatwb::test::run_metric(full, "worker_loss/0");
    const auto w1 = qatwb::test::run_metric(full, "worker_loss/1");
    QCOMPARE(w0.size(), size_t{4});
    QVERIFY(w0.count(0) && w0.count(1) && w0.count(4) && w0.count(5));
    QVERIFY(w1.count(2) && w1.count(3) && w1.count(6) && w1.count(7));
    QCOMPARE(
        qatwb::test::run_qatwb_env({"run", project, "--run-dir", cut, "--no-db", "--nproc", "2"},
                                   {{"QATWB_TEST_STOP_AT_STEP", "3"}})
            .exit_code,
        130);
    QCOMPARE(qatwb::test::run_qatwb_env({"run", "--resume", cut, "--no-db", "--nproc", "2"}, {})
                 .exit_code,
             0);
    const auto a = qatwb::test::run_metric(full, "loss"), b = qatwb::test::run_metric(cut, "loss");
    QCOMPARE(a.size(), size_t{8});
    QCOMPARE(b.size(), size_t{8});
    for (const auto& [step, loss] : a) QCOMPARE(b.at(step), loss);
    const auto ea = qatwb::test::run_metric(full, "easgd/distance_mean");
    const auto eb = qatwb::test::run_metric(cut, "easgd/distance_mean");
    QCOMPARE(ea.size(), size_t{2});
    for (const auto& [step, d] : ea) QCOMPARE(eb.at(step), d);
  }
};

QTEST_GUILESS_MAIN(TestEasgd)
#include "tst_easgd.moc"
