// One table per enum (core/util/enum_table.h): every table round-trips (name -> value -> name),
// covers every value of its enum once with a one-line description, and is what the project
// parser accepts: each field of choice_fields() takes exactly its table's names (refusing others
// with the table's list) and emits them back; the surrogate table's parameter rules are the ones
// the parser applies; the project template lists the same names.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <set>

#include "core/data/bos_policy.h"
#include "core/export/export_format.h"
#include "core/jobs/job.h"
#include "core/project/project_template.h"
#include "core/project/project_yaml.h"
#include "core/report/chart_spec.h"
#include "core/report/run_style.h"
#include "core/run/event_log.h"
#include "core/util/error.h"
#include "tests/common/test_env.h"

using namespace qatwb;

namespace {

// Every value 0..count-1 once, names unique and non-empty, descriptions one line.
template <typename E>
void check_table(size_t count) {
  const auto rows = enum_rows_of<E>();
  QCOMPARE(rows.size(), count);
  std::set<std::string> names;
  std::set<int> values;
  for (const auto& r : rows) {
    QVERIFY(r.name && *r.name);
    QVERIFY2(names.insert(r.name).second, r.name);
    QVERIFY2(values.insert(static_cast<int>(r.value)).second, r.name);
    QVERIFY2(r.help && *r.help && !std::string(r.help).empty(), r.name);
    QVERIFY2(std::string(r.help).find('\n') == std::string::npos, r.name);
    QVERIFY(parse_enum<E>(r.name) == r.value);
    QCOMPARE(std::string(enum_name(r.value)), std::string(r.name));
    QCOMPARE(std::string(enum_help(r.value)), std::string(r.help));
  }
  for (size_t i = 0; i < count; ++i) QVERIFY(enum_row(static_cast<E>(i)) != nullptr);
  QCOMPARE(std::string(enum_name(static_cast<E>(count))), std::string("?"));
  QVERIFY(!parse_enum<E>("no-such-name"));
  QVERIFY(!parse_enum<E>(""));
}

std::string write_file(const QTemporaryDir& dir, const QString& name, const std::string& text) {
  QFile f(dir.filePath(name));
  if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(f.fileName()));
  f.write(text.data(), static_cast<qint64>(text.size()));
  return QFileInfo(f.fileName()).canonicalFilePath().toStdString();
}

const char* kMinimal = "model: {preset: llama-tiny}\ndata: {sources: [{path: d.jsonl}]}\n";

// The messages of a project that fails to load ("" when it loads).
QStringList messages(const std::string& path, const std::vector<std::string>& overrides) {
  try {
    project::load_project(path, overrides);
  } catch (const project::ProjectErrors& e) {
    QStringList out;
    for (const auto& d : e.diagnostics()) out << QString::fromStdString(d.field + ": " + d.message);
    return out;
  }
  return {};
}

// The emitted value of a dotted field ("train.schedule.kind") of a loaded config.
std::string emitted(const project::ProjectConfig& c, const std::string& field) {
  project::ConfigNode root = project::to_node(c);
  const project::ConfigNode* n = &root;
  size_t start = 0;
  while (n) {
    const size_t dot = field.find('.', start);
    n = n->find(field.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return n ? n->scalar : "<absent>";
}

}  // namespace

class TestEnumTables : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void generic_functions() {
    using quant::Rounding;
    QCOMPARE(enum_names<Rounding>(), (std::vector<std::string>{"nearest", "up", "down"}));
    QCOMPARE(enum_list<Rounding>(), std::string("nearest, up, down"));
    QCOMPARE(enum_list<Rounding>(" | "), std::string("nearest | up | down"));
    QCOMPARE(names_or(enum_names<Rounding>()), std::string("nearest, up or down"));
    QCOMPARE(names_or({"a"}), std::string("a"));
    QCOMPARE(names_or({"a", "b"}), std::string("a or b"));
    QCOMPARE(names_or({}), std::string());
    QVERIFY(parse_enum<Rounding>("up") == Rounding::Up);
    QVERIFY(!parse_enum<Rounding>("Up"));  // case-sensitive, as the parser always was
    QCOMPARE(parse_enum_or_throw<Rounding>("down", "rounding"), Rounding::Down);
    try {
      parse_enum_or_throw<Rounding>("sideways", "rounding");
      QFAIL("no throw");
    } catch (const Error& e) {
      QCOMPARE(QString(e.what()),
               QString("unknown rounding 'sideways' (expected nearest, up or down)"));
    }
    QCOMPARE(enum_names_where<Rounding>([](Rounding r) { return r != Rounding::Nearest; }),
             (std::vector<std::string>{"up", "down"}));
  }

  void every_table_round_trips() {
    check_table<quant::Format>(4);
    check_table<quant::Granularity>(3);
    check_table<quant::ScaleMode>(3);
    check_table<quant::ScaleInit>(8);
    check_table<quant::Surrogate>(8);
    check_table<quant::Rounding>(3);
    check_table<quant::DsqScaleGrad>(2);
    check_table<quant::ActivationQuant::Kind>(3);
    check_table<data::BosPolicy>(3);
    check_table<project::ScheduleSection::Kind>(3);
    check_table<project::DistillSection::Loss>(2);
    check_table<project::EasgdSection::Mode>(2);
    check_table<project::Precision>(2);
    check_table<jobs::LauncherKind>(3);
    check_table<jobs::JobState>(7);
    check_table<run::EventType>(6);
    check_table<report::XAxis>(4);
    check_table<report::LineStyle>(7);
    check_table<exporter::ExportFormat>(4);
  }

  // The names stored in run and job files and in SQLite never change: existing databases and
  // run folders read the same.
  void stored_names_are_stable() {
    QCOMPARE(enum_list<jobs::JobState>(),
             std::string("queued, starting, running, succeeded, failed, cancelled, lost"));
    QCOMPARE(enum_list<jobs::LauncherKind>(), std::string("local, ssh, slurm"));
    QCOMPARE(enum_list<data::BosPolicy>(), std::string("none, document, window"));
    QCOMPARE(enum_list<run::EventType>(),
             std::string("start, metric, eval, checkpoint, warning, end"));
    QCOMPARE(enum_list<report::XAxis>(), std::string("step, tokens, wall_time, relative_time"));
    QCOMPARE(enum_list<exporter::ExportFormat>(),
             std::string("hf, gptq, compressed-tensors, gguf"));
    QVERIFY(report::parse_x_axis("wall") == report::XAxis::wall_time);
    QCOMPARE(report::x_axis_label(report::XAxis::relative_time),
             std::string("time since start (s)"));
  }

  // Each field of choice_fields() accepts exactly its table's names: a wrong name is refused
  // with the table's list, every listed name loads and is emitted back as the same name.
  void parser_accepts_exactly_the_table_names() {
    QTemporaryDir dir;
    const std::string p = write_file(dir, "p.yaml", kMinimal);
    // What some names need besides (a gguf format names its ggml type, AdaRound frozen scales).
    const std::map<std::string, std::vector<std::string>> needs = {
        {"quant.format=gguf", {"quant.gguf_type=q4_k"}},
        {"quant.gguf_type", {"quant.format=gguf"}},
        {"quant.surrogate=adaround", {"quant.scale=frozen"}},
        {"quant.granularity=per_group", {"quant.group_size=64"}},
        {"runner.kind=ssh", {"runner.host=me@gpu-box"}}};
    int fields = 0;
    for (const auto& f : project::choice_fields()) {
      if (f.field.find("[]") != std::string::npos) continue;  // list items: below
      ++fields;
      std::vector<std::string> names;
      for (const auto& c : f.choices) names.push_back(c.name);
      auto with_needs = [&](const std::string& set) {
        std::vector<std::string> o = {set};
        for (const auto& key : {set, f.field})
          if (auto it = needs.find(key); it != needs.end())
            o.insert(o.end(), it->second.begin(), it->second.end());
        return o;
      };
      const QStringList bad = messages(p, with_needs(f.field + "=bogus"));
      QCOMPARE(bad.size(), 1);
      QCOMPARE(bad[0], QString::fromStdString(f.field + ": expected one of " + join_names(names) +
                                              ", got 'bogus'"));
      for (const auto& n : names) {
        const auto o = with_needs(f.field + "=" + n);
        const QStringList m = messages(p, o);
        QVERIFY2(m.isEmpty(),
                 qPrintable(QString::fromStdString(f.field + "=" + n) + ": " + m.join("; ")));
        QCOMPARE(emitted(project::load_project(p, o), f.field), n);
      }
    }
    QVERIFY(fields >= 15);
  }

  void list_and_override_fields_use_the_tables() {
    QTemporaryDir dir;
    // easgd.rounding items
    const std::string r = write_file(
        dir, "r.yaml", std::string(kMinimal) + "easgd:\n  rounding: [nearest, up, sideways]\n");
    const QStringList mr = messages(r, {});
    QCOMPARE(mr.size(), 1);
    QCOMPARE(mr[0], QString("easgd.rounding[2]: expected nearest, up or down, got 'sideways'"));
    // quant.overrides[].format: every format but gguf (the ggml type is the scheme's)
    const std::string o = write_file(
        dir, "o.yaml",
        std::string(kMinimal) + "quant:\n  overrides:\n    - {match: x, format: gguf}\n");
    const QStringList mo = messages(o, {});
    QCOMPARE(mo.size(), 1);
    QCOMPARE(mo[0], QString("quant.overrides[0].format: expected one of int, mxfp4, nvfp4, got "
                            "'gguf'"));
    for (const auto& c : project::choice_fields())
      if (c.field == "quant.overrides[].format") QCOMPARE(int(c.choices.size()), 3);
  }

  // The surrogate table's rules are the parser's: the formats each surrogate trains on, the
  // surrogates EASGD's directed rounding allows, AdaRound's fixed scales.
  void surrogate_rules_drive_the_parser() {
    using namespace quant;
    QCOMPARE(surrogates_for(Format::Gguf), (std::vector<std::string>{"ste", "stableqat", "lsq"}));
    QCOMPARE(surrogates_for(Format::MxFp4),
             (std::vector<std::string>{"ste", "lsq", "pact", "paretoq"}));
    QCOMPARE(surrogates_for(Format::Int), enum_names<Surrogate>());
    QVERIFY(surrogate_takes(Surrogate::StableQat, "amplitude"));
    QVERIFY(surrogate_takes(Surrogate::Dsq, "scale_grad"));
    QVERIFY(!surrogate_takes(Surrogate::Ste, "amplitude"));
    QTemporaryDir dir;
    const std::string p = write_file(dir, "p.yaml", kMinimal);
    for (Format f : {Format::Int, Format::MxFp4, Format::NvFp4, Format::Gguf})
      for (const auto& s : enum_names<Surrogate>()) {
        std::vector<std::string> o = {std::string("quant.format=") + to_string(f),
                                      "quant.surrogate=" + s, "quant.scale=frozen"};
        if (f == Format::Gguf) o.push_back("quant.gguf_type=q4_k");
        const QStringList m = messages(p, o);
        const bool allowed = surrogate_allowed(*parse_enum<Surrogate>(s), f);
        const bool adaround_off_int = s == "adaround" && f != Format::Int;
        QVERIFY2(m.isEmpty() == (allowed && !adaround_off_int),
                 qPrintable(QString::fromStdString(to_string(f) + std::string(" ") + s) + ": " +
                            m.join("; ")));
        if (!allowed)
          QVERIFY2(
              m.join("\n").contains(QString::fromStdString(
                  "quant.surrogate: format " + std::string(to_string(f)) + " trains with the " +
                  names_or(surrogates_for(f)) + " surrogates, got " + s)),
              qPrintable(m.join("; ")));
      }
    // EASGD's up / down workers: the remainder-free surrogates only.
    const std::string e =
        write_file(dir, "e.yaml", std::string(kMinimal) + "easgd:\n  rounding: [nearest, up]\n");
    for (const auto& row : enum_rows_of<Surrogate>()) {
      std::vector<std::string> o = {std::string("quant.surrogate=") + row.name,
                                    "quant.scale=frozen"};
      const QStringList m = messages(e, o);
      QCOMPARE(m.isEmpty(), surrogate_rules(row.value).remainder_free);
      if (!m.isEmpty()) QVERIFY2(m[0].contains("(ste, lsq or pact)"), qPrintable(m[0]));
    }
    // AdaRound (learned rounding) refuses learned scales.
    QVERIFY(!messages(p, {"quant.surrogate=adaround", "quant.scale=learned"}).isEmpty());
  }

  void bits_tables() {
    QCOMPARE(quant::int_bits_names(), (std::vector<std::string>{"1", "1.58", "2", "3", "4", "8"}));
    QCOMPARE(quant::int_bits_names(true), (std::vector<std::string>{"2", "3", "4", "8"}));
    QVERIFY(quant::valid_int_bits(1.58) && !quant::valid_int_bits(1.58, true));
    QVERIFY(quant::valid_int_bits(4.0, true) && !quant::valid_int_bits(5));
  }

  // The template's comments list the same names as the tables.
  void template_lists_the_table_names() {
    const std::string t = project::project_template();
    for (const std::string& list :
         {enum_list<data::BosPolicy>(" | "), enum_list<quant::Format>(" | "),
          enum_list<quant::Granularity>(" | "), enum_list<quant::Surrogate>(" | "),
          enum_list<quant::ActivationQuant::Kind>(" | "),
          enum_list<project::ScheduleSection::Kind>(" | "), enum_list<project::Precision>(" | "),
          enum_list<project::DistillSection::Loss>(" | "), enum_list<jobs::LauncherKind>(" | ")})
      QVERIFY2(t.find("# " + list) != std::string::npos, list.c_str());
  }

  // `qatwb project choices` prints the same tables.
  void cli_lists_the_choices() {
    const auto r = test::run_qatwb({"project", "choices", "quant.surrogate"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.startsWith("quant.surrogate: " +
                             QByteArray::fromStdString(enum_list<quant::Surrogate>(" | ")) + "\n"));
    for (const auto& row : enum_rows_of<quant::Surrogate>()) QVERIFY(r.out.contains(row.help));
    const auto train = test::run_qatwb({"project", "choices", "train"});
    QCOMPARE(train.exit_code, 0);
    QVERIFY(train.out.contains("train.dtype: fp32 | bf16"));
    QVERIFY(!train.out.contains("quant."));
    QCOMPARE(test::run_qatwb({"project", "choices", "train.nonsense"}).exit_code, 1);
  }
};

QTEST_MAIN(TestEnumTables)
#include "tst_enum_tables.moc"
