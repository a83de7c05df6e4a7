// Data-parallel collectives over libtorch's c10d: a TCPStore for the rendezvous and a Gloo process
// group for allreduce, broadcast and barrier (CPU tensors; the same calls PyTorch's
// torch.distributed makes with backend="gloo").
//
// Debian's libtorch is built with Gloo; its c10d headers need USE_C10D_GLOO and the Gloo headers
// (libgloo-dev). Package.swift defines UPRES_C10D_GLOO where they belong to the libtorch in use;
// without them every upt_dist_ function fails with a message saying so.
#include "shim.h"

#if defined(UPRES_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define UPT_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif

#include <c10/core/GradMode.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <dlfcn.h>

#include <chrono>
#include <map>
#include <mutex>

struct upt_process_group_s {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int32_t rank;
  int32_t size;
};

namespace {

// The tensors of a list grouped by dtype, each group as one contiguous flat buffer: one
// collective per dtype instead of one per tensor, and tensors of any shape or layout.
struct FlatGroups {
  std::map<at::ScalarType, std::vector<at::Tensor>> members;
  std::map<at::ScalarType, at::Tensor> flat;

  explicit FlatGroups(const std::vector<at::Tensor> &tensors) {
    for (const auto &t : tensors) {
      if (!t.defined()) throw std::invalid_argument("an undefined tensor in a collective's list");
      if (!t.device().is_cpu()) throw std::invalid_argument("Gloo collectives take CPU tensors");
      members[t.scalar_type()].push_back(t);
    }
    for (auto &[type, list] : members) {
      std::vector<at::Tensor> views;
      views.reserve(list.size());
      for (const auto &t : list) views.push_back(t.detach().reshape(-1));
      flat[type] = at::cat(views).contiguous();
    }
  }

  // Writes the flat buffers back into the original tensors.
  void scatter_back() {
    for (auto &[type, list] : members) {
      const at::Tensor &buffer = flat[type];
      int64_t offset = 0;
      for (auto &t : list) {
        const int64_t n = t.numel();
        t.detach().copy_(buffer.narrow(0, offset, n).view(t.sizes()));
        offset += n;
      }
    }
  }
};

// Debian's libtorch logs through glog, which prints a failed rendezvous to stderr before the
// exception that carries the same message: glog is kept quiet while a group forms (looked up at
// run time, so a libtorch without glog needs nothing).
class QuietGlog {
 public:
  QuietGlog() {
    std::lock_guard<std::mutex> lock(mutex());
    if (level() != nullptr && depth()++ == 0) {
      saved() = *level();
      *level() = 3;  // FATAL only
    }
  }
  ~QuietGlog() {
    std::lock_guard<std::mutex> lock(mutex());
    if (level() != nullptr && --depth() == 0) *level() = saved();
  }

 private:
  static int *level() {
    static int *flag = static_cast<int *>(dlsym(RTLD_DEFAULT, "_ZN3fLI17FLAGS_minloglevelE"));
    return flag;
  }
  static std::mutex &mutex() {
    static std::mutex m;
    return m;
  }
  static int &depth() {
    static int d = 0;
    return d;
  }
  static int &saved() {
    static int s = 0;
    return s;
  }
};

void check_group(upt_process_group pg) {
  if (pg == nullptr || !pg->group) throw std::invalid_argument("no process group (it was released)");
}

}  // namespace

extern "C" {

int upt_dist_new(upt_process_group *out, const char *master_addr, int32_t master_port, int32_t rank,
                 int32_t world_size, int64_t timeout_ms, int32_t device_kind, const char *device_name,
                 bool external_store, const char *store_prefix) {
  UPT_TRY({
    *out = nullptr;
    if (world_size < 1) throw std::invalid_argument("world size " + std::to_string(world_size) + " must be >= 1");
    if (rank < 0 || rank >= world_size) {
      throw std::invalid_argument("rank " + std::to_string(rank) + " is not in [0, " +
                                  std::to_string(world_size) + ")");
    }
    if (master_port < 1 || master_port > 65535) {
      throw std::invalid_argument("port " + std::to_string(master_port) + " is not in [1, 65535]");
    }
    if (timeout_ms <= 0) throw std::invalid_argument("the timeout must be > 0 ms");
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    QuietGlog quiet;
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(master_port);
    so.isServer = rank == 0 && !external_store;
    so.numWorkers = static_cast<std::size_t>(world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(std::string(master_addr ? master_addr : ""), so);
    if (store_prefix != nullptr && store_prefix[0] != '\0') {
      store = c10::make_intrusive<c10d::PrefixStore>(std::string(store_prefix), store);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    const std::string name = device_name ? device_name : "";
    switch (device_kind) {
      case 1: options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(name)); break;
      case 2: options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name)); break;
      default: options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice()); break;
    }
    options->threads = 1;
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
    auto *pg = new upt_process_group_s();
    pg->store = store;
    pg->group = group;
    pg->rank = rank;
    pg->size = world_size;
    *out = pg;
  })
}

void upt_dist_free(upt_process_group pg) {
  if (pg == nullptr) return;
  try {
    pg->group.reset();
    pg->store.reset();
  } catch (...) {
    // A destructor that throws (a peer already gone) must not end the process.
  }
  delete pg;
}

int32_t upt_dist_rank(upt_process_group pg) { return pg == nullptr ? -1 : pg->rank; }
int32_t upt_dist_world_size(upt_process_group pg) { return pg == nullptr ? 0 : pg->size; }

int upt_dist_allreduce(upt_process_group pg, const upt_tensor *ts, int32_t n, bool average) {
  UPT_TRY({
    check_group(pg);
    if (n == 0) return 0;
    c10::NoGradGuard no_grad;
    FlatGroups groups(upt::list(ts, n));
    for (auto &[type, buffer] : groups.flat) {
      std::vector<at::Tensor> io{buffer};
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      pg->group->allreduce(io, opts)->wait();
      if (average) {
        if (!at::isFloatingType(type) && !at::isComplexType(type)) {
          throw std::invalid_argument("an average over the ranks needs floating-point tensors");
        }
        buffer.div_(pg->size);
      }
    }
    groups.scatter_back();
  })
}

int upt_dist_broadcast(upt_process_group pg, const upt_tensor *ts, int32_t n, int32_t root) {
  UPT_TRY({
    check_group(pg);
    if (root < 0 || root >= pg->size) {
      throw std::invalid_argument("root rank " + std::to_string(root) + " is not in [0, " +
                                  std::to_string(pg->size) + ")");
    }
    if (n == 0) return 0;
    c10::NoGradGuard no_grad;
    FlatGroups groups(upt::list(ts, n));
    for (auto &[type, buffer] : groups.flat) {
      std::vector<at::Tensor> io{buffer};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.rootTensor = 0;
      pg->group->broadcast(io, opts)->wait();
    }
    groups.scatter_back();
  })
}

int upt_dist_barrier(upt_process_group pg) {
  UPT_TRY({
    check_group(pg);
    pg->group->barrier()->wait();
  })
}

bool upt_dist_available(void) { return true; }

}  // extern "C"

#else  // no Gloo headers: the same ABI, every call an error

struct upt_process_group_s {};

namespace {
[[noreturn]] void absent() {
  throw std::runtime_error(
      "this upres was built without Gloo headers, so without data-parallel training "
      "(install libgloo-dev, or use a libtorch that ships include/gloo, and rebuild)");
}
}  // namespace

extern "C" {
int upt_dist_new(upt_process_group *out, const char *, int32_t, int32_t, int32_t, int64_t, int32_t, const char *, bool,
                 const char *) {
  UPT_TRY({
    *out = nullptr;
    absent();
  })
}
void upt_dist_free(upt_process_group pg) { delete pg; }
int32_t upt_dist_rank(upt_process_group) { return -1; }
int32_t upt_dist_world_size(upt_process_group) { return 0; }
int upt_dist_allreduce(upt_process_group, const upt_tensor *, int32_t, bool) { UPT_TRY(absent()) }
int upt_dist_broadcast(upt_process_group, const upt_tensor *, int32_t, int32_t) { UPT_TRY(absent()) }
int upt_dist_barrier(upt_process_group) { UPT_TRY(absent()) }
bool upt_dist_available(void) { return false; }
}  // extern "C"

#endif
