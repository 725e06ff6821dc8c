#pragma once
// Python frames of a CPython 3.11 thread, read from the live target's memory
// (process_vm_readv) right after one of its GIL waits ends, and resolved here to
// file / function / line strings: no raw target memory reaches the recording.
//
// Why in user space, by a sampler thread: the BPF event of a wait arrives when it ends,
// and the session's loop that drains it can stall for seconds (uprobe windows), by
// which time the thread (or the whole target) has moved on or exited: reading at the
// event lost ~all stacks of a 2 s target on a busy machine. So a thread reads every
// Python thread's stack every 10 ms and keeps them; a wait takes the read made while
// it was blocked (a thread waiting for the GIL runs no bytecode: that read is its frame
// at the wait), or the next one after it. Each kept stack records how late that was
// (PythonWaitStack::read_delay_ns, 0 = read during the wait). The frame walk in BPF at
// the futex wait would be exact for every wait; it is not done.
//
// Every read is also kept for the analysis, run-length encoded per thread
// (PythonSection::reads): a memory sample takes the read nearest in time
// (profiler/python_reads.h).
//
// The sampler does not run for targets that are not CPython 3.11: it stops once every
// process it watches has kept a non-Python executable for a second (kNoPythonGiveUpNs) or
// runs another CPython version (noted, never read), and starts again when a wait names a
// new process.
//
// Supported: CPython 3.11 on x86-64 (struct offsets checked against Debian's
// python3.11-dev 3.11.2 and a pyenv 3.11.7 build: identical). Any other version is
// recorded as unsupported with a note; its findings keep native stacks only.
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
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
  ~CpythonFrames();
  // The Python stack of thread `tid` of process `pid`, innermost first (not thread-safe:
  // the sampler thread's own, or a caller's without a sampler).
  absl::StatusOr<std::vector<model::PythonFrame>> stack(uint32_t pid, uint32_t tid);

  // Starts (or restarts, after it stopped for want of a Python process) a thread that reads the stacks of every thread of `pid` (and of each process
  // a wait names later) every 10 ms, keeping 10 s of them: the session's loop can stall
  // for seconds (uprobe attach/detach) and a wait's event is often handled after its
  // thread, or the whole target, has moved on or exited.
  void start_sampler(uint32_t pid);
  // A futex wait of `tid` ended: when `uaddr` is the GIL of a supported interpreter, its
  // stack is the sampler's first read taken during the wait (exact: a thread blocked on
  // the GIL does not move), else the first one after it (read_delay_ns says how late).
  void on_wait(model::Recording& rec, uint32_t pid, uint32_t tid, uint64_t uaddr, uint64_t start_ns,
               uint64_t duration_ns);
  // Stops the sampler; the processes seen, every read made, and the loss counters.
  void finish(model::Recording& rec);
  // Whether the sampler thread is running (false once it stopped for want of Python).
  bool sampling() const { return running_; }

 private:
  struct Process {
    bool python = false, supported = false;
    std::string exe;              // what /proc/PID/exe was when last resolved
    uint64_t exe_since_ns = 0;    // when exe was first seen as it is
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
  struct Snapshot {
    uint64_t time_ns = 0;
    std::vector<int32_t> frames;  // into frames_
  };

  Process& process(uint32_t pid);
  void resolve(uint32_t pid, Process& p);
  absl::StatusOr<uint64_t> thread_state(uint32_t pid, Process& p, uint32_t tid);
  const Code* code(uint32_t pid, uint64_t addr);
  // One pass over the watched processes; false when none is or may become a CPython
  // interpreter (the sampler then stops).
  bool sample_once();
  // A read of `tid` at `time_ns`: extends the thread's last run or starts one (under mu_).
  void keep_read(uint32_t pid, uint32_t tid, uint64_t time_ns, const std::vector<int32_t>& frames);
  // frames_ indices -> rec.python.frames indices (under mu_).
  std::vector<int32_t> rec_frames(model::Recording& rec, const std::vector<int32_t>& frames);

  // The sampler thread's own (or stack()'s caller's).
  std::map<uint32_t, Process> procs_;
  std::map<std::pair<uint32_t, uint64_t>, Code> codes_;  // by (pid, address)
  size_t turn_ = 0;                                       // which threads of a big process are read this pass

  // Shared with the sampler, under mu_.
  std::mutex mu_;
  std::set<uint32_t> watch_;                                   // pids to sample
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> gil_;      // pid -> [_PyRuntime, +size), supported only
  std::map<uint32_t, model::PythonProcess> infos_;             // every interpreter found
  std::map<uint32_t, std::deque<Snapshot>> history_;           // by tid, oldest first
  std::vector<model::PythonFrame> frames_;
  std::map<std::tuple<std::string, std::string, int32_t>, int32_t> frame_ids_;
  std::vector<model::PythonReadRun> reads_;                   // frames index frames_
  std::map<uint32_t, size_t> open_run_;                        // tid -> its last run in reads_
  std::atomic<bool> stop_{false}, running_{false};
  std::thread sampler_;

  std::map<int32_t, int32_t> rec_ids_;  // frames_ index -> rec.python.frames index
  uint64_t skipped_ = 0, failed_ = 0, reads_skipped_ = 0;
};

}  // namespace ccprof::agent
