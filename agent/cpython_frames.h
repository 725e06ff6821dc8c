#pragma once
// Python frames of a CPython 3.11 thread, read from the live target's memory
// (process_vm_readv) right after one of its GIL waits ends, and resolved here to
// file / function / line strings: no raw target memory reaches the recording.
//
// Why in user space, after the wait: the BPF event of a wait arrives when it ends, and
// the agent drains every ~20 ms, so the frame read may be a later one than the frame
// that waited. A thread that waits for the GIL is in the eval loop of a CPU-bound
// function (that is why it wants the GIL back), and its frame moves on only at the
// next call or return: for the hot loop a finding is about, the read lands on the same
// function and loop. Each kept stack records the delay between the wait's end and the
// read (PythonWaitStack::read_delay_ns) so the report can say how stale the reads were.
//
// Supported: CPython 3.11 on x86-64 (struct offsets checked against Debian's
// python3.11-dev 3.11.2 and a pyenv 3.11.7 build: identical). Any other version is
// recorded as unsupported with a note; its findings keep native stacks only.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/recording.h"

namespace ccprof::agent {

// The source line of the instruction at `byte_offset` in a code object from its 3.11
// location table (co_linetable, Objects/locations.md) and co_firstlineno; 0 when the
// table says the instruction has no line or does not cover the offset. A negative
// offset (a frame that has not run its first instruction) is the first line.
int cpython311_line(std::string_view linetable, int firstlineno, int byte_offset);

class CpythonFrames {
 public:
  // The Python stack of thread `tid` of process `pid`, innermost first.
  absl::StatusOr<std::vector<model::PythonFrame>> stack(uint32_t pid, uint32_t tid);

  // A futex wait of `tid` ended: when `uaddr` is the GIL of a supported interpreter,
  // reads the thread's stack (within a budget) into rec.python.
  void on_wait(model::Recording& rec, uint32_t pid, uint32_t tid, uint64_t uaddr, uint64_t start_ns,
               uint64_t duration_ns);
  // The processes seen and the loss counters.
  void finish(model::Recording& rec);

 private:
  struct Process {
    bool python = false, supported = false;
    std::string exe;              // what /proc/PID/exe was when last resolved
    uint64_t next_check_ns = 0;   // when a non-Python process is looked at again
    uint64_t runtime = 0, runtime_size = 0;  // _PyRuntime's address and size
    model::PythonProcess info;
    std::map<uint32_t, uint64_t> tstates;  // tid -> PyThreadState address
  };
  struct Code {
    uint64_t filename = 0, qualname = 0, linetable = 0;  // identity (a freed code object's address is reused)
    std::string file, function, table;
    int firstlineno = 0;
  };

  Process& process(uint32_t pid);
  void resolve(uint32_t pid, Process& p);
  absl::StatusOr<uint64_t> thread_state(uint32_t pid, Process& p, uint32_t tid);
  const Code* code(uint32_t pid, uint64_t addr);
  int32_t frame_index(const model::PythonFrame& f, model::Recording& rec);

  std::map<uint32_t, Process> procs_;
  std::map<std::pair<uint32_t, uint64_t>, Code> codes_;  // by (pid, address)
  std::map<std::tuple<std::string, std::string, int32_t>, int32_t> frame_ids_;
  double tokens_ = 0;
  uint64_t last_refill_ns_ = 0;
  uint64_t skipped_ = 0, failed_ = 0;
};

}  // namespace ccprof::agent
