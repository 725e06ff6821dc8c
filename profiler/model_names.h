#pragma once
// The data model's names as the analysis uses them: profiler/ reads model/ types
// everywhere, so they are imported once here instead of qualified at every use.
#include "model/printable.h"
#include "model/recording.h"
#include "model/untrusted_input.h"

namespace ccprof::profiler {

using model::AccessKind;
using model::DecodedAccess;
using model::DecodeFailure;
using model::DecodeRecovery;
using model::FutexAddrStats;
using model::FutexOp;
using model::FutexWait;
using model::LockCallCount;
using model::LossCounters;
using model::MemoryMap;
using model::MemorySample;
using model::ProcessInfo;
using model::Recording;
using model::RssSample;
using model::SampleDecode;
using model::SchedSection;
using model::SchedThread;
using model::StackCopy;
using model::StackFrames;
using model::StackWindow;
using model::SyscallClass;
using model::SyscallSample;
using model::SyscallSite;
using model::ThreadInfo;
using model::UserRegs;
using model::classify_syscall;
using model::open_regular_file;
using model::printable;
using model::read_regular_file;
using model::is_blocking_syscall;
using model::syscall_class_name;
using model::syscall_name;
using enum model::DwarfReg;

}  // namespace ccprof::profiler
