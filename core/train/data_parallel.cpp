#include "core/train/data_parallel.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/util/error.h"

namespace qatwb::train {
namespace {

int free_tcp_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    throw Error("cannot find a free TCP port on 127.0.0.1 for the c10d rendezvous");
  }
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

volatile sig_atomic_t g_forward_signal = 0;
extern "C" void remember_signal(int sig) { g_forward_signal = sig; }

}  // namespace

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallel::DataParallel(const DistEnv& env) : env_(env), impl_(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = env.rank == 0;
  opts.numWorkers = env.world_size;
  opts.timeout = std::chrono::minutes(5);
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::minutes(30));
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
        env.master_addr == "localhost" ? "127.0.0.1" : env.master_addr));
    options->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank,
                                                               env.world_size, options);
  } catch (const std::exception& e) {
    throw Error("data parallel: cannot join the process group at " + env.master_addr + ":" +
                std::to_string(env.master_port) + " as rank " + std::to_string(env.rank) + " of " +
                std::to_string(env.world_size) + ": " + e.what());
  }
}

DataParallel::~DataParallel() = default;

void DataParallel::average(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  reduce_buckets(tensors, bucket_bytes, env_.world_size);
}

void DataParallel::all_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  reduce_buckets(tensors, bucket_bytes, 1.0);
}

void DataParallel::reduce_buckets(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes,
                                  double divisor) {
  size_t i = 0;
  while (i < tensors.size()) {
    std::vector<torch::Tensor> bucket;
    int64_t bytes = 0;
    while (i < tensors.size() && (bucket.empty() || bytes < bucket_bytes)) {
      bucket.push_back(tensors[i]);
      bytes += tensors[i].numel() * tensors[i].element_size();
      ++i;
    }
    std::vector<torch::Tensor> flat{torch::cat(
        [&] {
          std::vector<torch::Tensor> parts;
          for (auto& t : bucket) parts.push_back(t.reshape({-1}).to(torch::kFloat32));
          return parts;
        }(),
        0)};
    impl_->group->allreduce(flat)->wait();
    if (divisor != 1.0) flat[0].div_(divisor);
    int64_t offset = 0;
    for (auto& t : bucket) {
      const int64_t n = t.numel();
      t.copy_(flat[0].narrow(0, offset, n).view(t.sizes()));
      offset += n;
    }
  }
}

torch::Tensor DataParallel::sum(const torch::Tensor& values) {
  std::vector<torch::Tensor> v{values.to(torch::kFloat64).cpu().contiguous().clone()};
  impl_->group->allreduce(v)->wait();
  return v[0];
}

void DataParallel::broadcast_from_main(const std::vector<torch::Tensor>& tensors) {
  broadcast(tensors, 0);
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  for (const auto& t : tensors) {
    std::vector<torch::Tensor> v{t.detach().cpu().contiguous().clone()};
    impl_->group->broadcast(v, opts)->wait();
    torch::NoGradGuard no_grad;
    t.copy_(v[0]);
  }
}

void DataParallel::barrier() { impl_->group->barrier()->wait(); }

int launch_local_ranks(int nproc, const std::vector<std::string>& argv, int threads_per_rank) {
  if (nproc < 1) throw Error("--nproc must be at least 1");
  const int port = free_tcp_port();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = threads_per_rank > 0 ? threads_per_rank : std::max(1, cores / nproc);
  std::vector<pid_t> children;
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) throw Error("cannot start rank " + std::to_string(rank));
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("QATWB_THREADS_PER_RANK", std::to_string(threads).c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv("/proc/self/exe", args.data());
      _exit(127);
    }
    children.push_back(pid);
  }
  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  int result = 0, rank0 = -1;
  size_t alive = children.size();
  bool forwarded = false;
  while (alive > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) {
        if (g_forward_signal && !forwarded) {
          for (pid_t c : children) kill(c, g_forward_signal);
          forwarded = true;
        }
        continue;
      }
      break;
    }
    --alive;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (pid == children[0]) rank0 = code;
    if (code != 0 && result == 0) {
      result = code;
      // The other ranks would wait for this one in their next all-reduce: stop them.
      for (pid_t c : children)
        if (c != pid) kill(c, code == 130 ? SIGTERM : SIGKILL);
    }
  }
  return rank0 >= 0 && rank0 != 0 ? rank0 : result;
}

}  // namespace qatwb::train
