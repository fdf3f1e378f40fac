#include "core/data/token_loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/data/seeded_random.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace qatwb::data {

namespace fs = std::filesystem;

// A named namespace, not an anonymous one: TokenLoader::Impl holds MappedShards, and GCC warns
// (-Wsubobject-linkage) about a class using an internal-linkage type outside the main file, which
// is what a unity build makes of this file.
namespace token_loader_detail {

class MappedShard {
 public:
  MappedShard(const std::string& path, int64_t tokens, bool random_access) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0)
      throw Error(at_location(path, 0, std::string("cannot open shard: ") + std::strerror(errno)));
    struct stat st {};
    ::fstat(fd, &st);
    const uint64_t expected = uint64_t(tokens) * 4;
    if (uint64_t(st.st_size) != expected) {
      ::close(fd);
      throw Error(at_location(path, 0,
                              "shard has " + std::to_string(st.st_size) +
                                  " bytes but the manifest lists " + std::to_string(tokens) +
                                  " tokens (" + std::to_string(expected) + " bytes)"));
    }
    bytes_ = size_t(expected);
    if (bytes_ > 0) {
      void* p = ::mmap(nullptr, bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        throw Error(at_location(path, 0, std::string("cannot map shard: ") + std::strerror(err)));
      }
      data_ = static_cast<const uint32_t*>(p);
      if (random_access) ::madvise(p, bytes_, MADV_RANDOM);
    }
    ::close(fd);
  }
  ~MappedShard() {
    if (data_) ::munmap(const_cast<uint32_t*>(data_), bytes_);
  }
  MappedShard(const MappedShard&) = delete;
  MappedShard& operator=(const MappedShard&) = delete;

  const uint32_t* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint32_t* data_ = nullptr;
  size_t bytes_ = 0;
};

const char* order_name(WindowOrder o) {
  return o == WindowOrder::Shuffled ? "shuffled" : "sequential";
}

}  // namespace token_loader_detail
using token_loader_detail::MappedShard;
using token_loader_detail::order_name;

struct TokenLoader::Impl {
  LoaderOptions options;
  TokenManifest manifest;
  const SplitShards* split = nullptr;
  std::vector<std::unique_ptr<MappedShard>> shards;
  std::vector<int64_t> shard_start;  // first global token of each shard, plus the total at end
  int64_t seq_len = 0, stride = 0, num_tokens = 0, num_windows = 0, per_epoch = 0;
  int64_t epoch = 0, position = 0;
  mutable int64_t perm_epoch = -1;
  mutable std::vector<uint64_t> perm;

  const std::vector<uint64_t>& permutation(int64_t e) const {
    if (perm_epoch != e) {
      perm = seeded_permutation(uint64_t(num_windows), hash_combine(options.seed, uint64_t(e)));
      perm_epoch = e;
    }
    return perm;
  }
};

TokenLoader::TokenLoader(const std::string& dir, const LoaderOptions& options,
                         const text::Tokenizer& tokenizer)
    : TokenLoader(dir, options, sha256_file(tokenizer.path())) {}

TokenLoader::TokenLoader(const std::string& dir, const LoaderOptions& options,
                         const std::string& tokenizer_sha256)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.options = options;
  d.manifest = read_token_manifest(dir);
  const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
  d.split = d.manifest.find_split(options.split);
  if (!d.split) {
    std::string have;
    for (const auto& s : d.manifest.splits) have += (have.empty() ? "" : ", ") + s.name;
    throw Error(
        at_location(manifest_path, 0, "no split \"" + options.split + "\" (has: " + have + ")"));
  }
  const std::string first_shard =
      d.split->shards.empty() ? manifest_path : (fs::path(dir) / d.split->shards[0].file).string();
  if (d.manifest.tokenizer_sha256 != tokenizer_sha256)
    throw Error("shard " + first_shard + " was tokenized with tokenizer sha256 " +
                d.manifest.tokenizer_sha256 + " (" + d.manifest.tokenizer_path +
                ") but the run uses " + tokenizer_sha256 +
                "; re-run `qatwb tokenize` with the "
                "run's tokenizer");
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw Error("data loader: rank " + std::to_string(options.rank) + " is not in [0, " +
                std::to_string(options.world_size) + ")");
  if (options.batch_size < 1) throw Error("data loader: batch size must be positive");
  d.seq_len = options.seq_len > 0 ? options.seq_len : d.manifest.seq_len;
  if (d.seq_len <= 0) throw Error(at_location(manifest_path, 0, "seq_len must be positive"));
  if (d.manifest.bos == BosPolicy::Window && d.seq_len != d.manifest.seq_len)
    throw Error(at_location(
        manifest_path, 0,
        "shards were packed with a BOS every " + std::to_string(d.manifest.seq_len + 1) +
            " tokens (bos = window) for seq_len " + std::to_string(d.manifest.seq_len) +
            ", but seq_len " + std::to_string(d.seq_len) + " was asked; re-tokenize"));
  d.stride = d.manifest.window_stride(d.seq_len);

  d.shard_start.push_back(0);
  for (const auto& sh : d.split->shards) {
    const std::string path = (fs::path(dir) / sh.file).string();
    if (options.verify_sha256) {
      std::string actual = sha256_file(path);
      if (actual != sh.sha256)
        throw Error(at_location(
            path, 0, "sha256 " + actual + " does not match the manifest (" + sh.sha256 + ")"));
    }
    d.shards.push_back(
        std::make_unique<MappedShard>(path, sh.tokens, options.order == WindowOrder::Shuffled));
    d.shard_start.push_back(d.shard_start.back() + sh.tokens);
  }
  d.num_tokens = d.shard_start.back();
  d.num_windows = d.num_tokens >= d.seq_len + 1 ? (d.num_tokens - d.seq_len - 1) / d.stride + 1 : 0;
  const std::string what = "split \"" + options.split + "\" has " + std::to_string(d.num_tokens) +
                           " tokens, " + std::to_string(d.num_windows) + " window(s) of " +
                           std::to_string(d.seq_len + 1) + " tokens";
  if (d.num_windows == 0) throw Error(at_location(manifest_path, 0, what + "; need more data"));
  if (options.order == WindowOrder::Shuffled) {
    d.per_epoch = d.num_windows / options.world_size;
    if (d.per_epoch == 0)
      throw Error(
          at_location(manifest_path, 0,
                      what + ", fewer than the " + std::to_string(options.world_size) + " ranks"));
  } else {
    d.per_epoch = d.num_windows > options.rank
                      ? (d.num_windows - options.rank + options.world_size - 1) / options.world_size
                      : 0;
  }
}

TokenLoader::~TokenLoader() = default;
TokenLoader::TokenLoader(TokenLoader&&) noexcept = default;
TokenLoader& TokenLoader::operator=(TokenLoader&&) noexcept = default;

const TokenManifest& TokenLoader::manifest() const { return impl_->manifest; }
int64_t TokenLoader::seq_len() const { return impl_->seq_len; }
int64_t TokenLoader::stride() const { return impl_->stride; }
int64_t TokenLoader::num_tokens() const { return impl_->num_tokens; }
int64_t TokenLoader::num_windows() const { return impl_->num_windows; }
int64_t TokenLoader::windows_per_epoch() const { return impl_->per_epoch; }

int64_t TokenLoader::window_index(int64_t epoch, int64_t position) const {
  const Impl& d = *impl_;
  const int64_t slot = int64_t(d.options.rank) + position * d.options.world_size;
  if (d.options.order == WindowOrder::Sequential) return slot;
  return int64_t(d.permutation(epoch)[size_t(slot)]);
}

void TokenLoader::read_tokens(int64_t offset, int64_t count, int64_t* out) const {
  const Impl& d = *impl_;
  if (offset < 0 || count < 0 || offset + count > d.num_tokens)
    throw Error("data loader: token range [" + std::to_string(offset) + ", " +
                std::to_string(offset + count) + ") is outside the split's " +
                std::to_string(d.num_tokens) + " tokens");
  size_t s = size_t(std::upper_bound(d.shard_start.begin(), d.shard_start.end(), offset) -
                    d.shard_start.begin()) -
             1;
  while (count > 0) {
    while (d.shard_start[s + 1] <= offset) ++s;  // skip empty shards
    const int64_t local = offset - d.shard_start[s];
    const int64_t take = std::min(count, d.shard_start[s + 1] - offset);
    const uint32_t* src = d.shards[s]->data() + local;
    for (int64_t i = 0; i < take; ++i) {
      uint32_t v = src[i];
      if constexpr (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) v = __builtin_bswap32(v);
      if (int64_t(v) >= d.manifest.vocab_size)
        throw Error(at_location(d.shards[s]->path(), 0,
                                "token id " + std::to_string(v) + " at token " +
                                    std::to_string(local + i) + " is outside the vocabulary (" +
                                    std::to_string(d.manifest.vocab_size) + ")"));
      out[i] = int64_t(v);
    }
    out += take;
    offset += take;
    count -= take;
  }
}

void TokenLoader::read_window(int64_t window, int64_t* out) const {
  const Impl& d = *impl_;
  if (window < 0 || window >= d.num_windows)
    throw Error("data loader: window " + std::to_string(window) + " is outside [0, " +
                std::to_string(d.num_windows) + ")");
  read_tokens(window * d.stride, d.seq_len + 1, out);
}

std::vector<int64_t> TokenLoader::next_batch() {
  Impl& d = *impl_;
  const int64_t row = d.seq_len + 1;
  std::vector<int64_t> out;
  out.reserve(size_t(d.options.batch_size * row));
  for (int64_t b = 0; b < d.options.batch_size; ++b) {
    if (d.position >= d.per_epoch) {
      if (d.options.order == WindowOrder::Sequential) break;
      ++d.epoch;
      d.position = 0;
    }
    out.resize(out.size() + size_t(row));
    read_window(window_index(d.epoch, d.position), out.data() + out.size() - row);
    ++d.position;
  }
  return out;
}

LoaderState TokenLoader::state() const {
  const Impl& d = *impl_;
  LoaderState s;
  s.epoch = d.epoch;
  s.position = d.position;
  s.split = d.options.split;
  s.seed = d.options.seed;
  s.seq_len = d.seq_len;
  s.num_windows = d.num_windows;
  s.rank = d.options.rank;
  s.world_size = d.options.world_size;
  s.order = d.options.order;
  return s;
}

void TokenLoader::restore(const LoaderState& s) {
  LoaderState mine = state();
  auto mismatch = [](const std::string& what, const std::string& saved, const std::string& now) {
    throw Error("data loader: cannot restore a state saved with " + what + " " + saved +
                " into a loader with " + what + " " + now);
  };
  if (s.split != mine.split) mismatch("split", s.split, mine.split);
  if (s.seed != mine.seed) mismatch("seed", std::to_string(s.seed), std::to_string(mine.seed));
  if (s.seq_len != mine.seq_len)
    mismatch("seq_len", std::to_string(s.seq_len), std::to_string(mine.seq_len));
  if (s.num_windows != mine.num_windows)
    mismatch("a window count of", std::to_string(s.num_windows), std::to_string(mine.num_windows));
  if (s.rank != mine.rank || s.world_size != mine.world_size)
    mismatch("rank/world size", std::to_string(s.rank) + "/" + std::to_string(s.world_size),
             std::to_string(mine.rank) + "/" + std::to_string(mine.world_size));
  if (s.order != mine.order) mismatch("order", order_name(s.order), order_name(mine.order));
  if (s.epoch < 0 || s.position < 0 || s.position > impl_->per_epoch)
    throw Error("data loader: saved position (epoch " + std::to_string(s.epoch) + ", window " +
                std::to_string(s.position) + ") is out of range");
  impl_->epoch = s.epoch;
  impl_->position = s.position;
}

std::string LoaderState::to_json() const {
  nlohmann::json j = {{"v", 1},
                      {"epoch", epoch},
                      {"position", position},
                      {"split", split},
                      {"seed", seed},
                      {"seq_len", seq_len},
                      {"num_windows", num_windows},
                      {"rank", rank},
                      {"world_size", world_size},
                      {"order", order_name(order)}};
  return j.dump();
}

LoaderState LoaderState::from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    LoaderState s;
    s.epoch = j.at("epoch").get<int64_t>();
    s.position = j.at("position").get<int64_t>();
    s.split = j.at("split").get<std::string>();
    s.seed = j.at("seed").get<uint64_t>();
    s.seq_len = j.at("seq_len").get<int64_t>();
    s.num_windows = j.at("num_windows").get<int64_t>();
    s.rank = j.at("rank").get<int>();
    s.world_size = j.at("world_size").get<int>();
    const std::string order = j.at("order").get<std::string>();
    if (order != "shuffled" && order != "sequential") throw Error("unknown order " + order);
    s.order = order == "shuffled" ? WindowOrder::Shuffled : WindowOrder::Sequential;
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("data loader state: ") + e.what());
  } catch (const Error& e) {
    throw Error(std::string("data loader state: ") + e.what());
  }
}

bool LoaderState::operator==(const LoaderState& o) const {
  return epoch == o.epoch && position == o.position && split == o.split && seed == o.seed &&
         seq_len == o.seq_len && num_windows == o.num_windows && rank == o.rank &&
         world_size == o.world_size && order == o.order;
}

}  // namespace qatwb::data
