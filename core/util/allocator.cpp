#include "core/util/allocator.h"

#include <malloc.h>

namespace qatwb {

void keep_large_allocations_mapped() {
#if defined(__GLIBC__)
  // 1 GiB: allocations below this come from the heap and are reused between steps.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  // Do not give freed memory back to the OS on every free; peak RSS stays what it was.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

}  // namespace qatwb
