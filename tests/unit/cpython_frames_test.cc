#include "agent/cpython_frames.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

extern char** environ;

namespace ccprof::agent {
namespace {

struct Recorded {
  int firstlineno;
  std::string linetable_hex;
  std::vector<std::tuple<int, int, int>> lines;  // co_lines(): [start, end) byte offsets -> line
};

// Recorded from Debian's python3.11 (3.11.2) on tests/workloads/s09-gil-contention.py:
// co_linetable.hex() and list(co_lines()) of crunch_unit (a for loop) and crunch_until
// (a while loop with a call), so the decoder is checked against CPython's own answer.
const Recorded kCrunchUnit{
    21,
    "8000e0080c8041dd0d129535895c8c5cf000010536f0000105368801d80d0e901a895e9865d10d23a061d10d27a83ad10c3588018801d80"
    "b0c8048",
    {{0, 2, 21},   {2, 4, 23},   {4, 6, 23},   {6, 18, 24},  {18, 30, 24}, {30, 34, 24}, {34, 44, 24}, {44, 46, 24},
     {46, 48, 24}, {48, 50, 24}, {50, 52, 25}, {52, 54, 25}, {54, 58, 25}, {58, 60, 25}, {60, 64, 25}, {64, 66, 25},
     {66, 70, 25}, {70, 72, 25}, {72, 76, 25}, {76, 78, 25}, {78, 80, 25}, {80, 82, 26}, {82, 84, 26}}};
const Recorded kCrunchUntil{
    29,
    "8000e00c0d8045d8080c8041dd0a0e8c2ed10a1ad40a1a9858d20a25d00a25dd0c179801894e8c4e8801d8080d9011890a8805f505000b"
    "0f8c2ed10a1ad40a1a9858d20a25d00a25f006000c11804c",
    {{0, 2, 29},     {2, 4, 31},     {4, 6, 31},     {6, 8, 32},     {8, 10, 32},    {10, 22, 33},
     {22, 32, 33},   {32, 36, 33},   {36, 46, 33},   {46, 48, 33},   {48, 54, 33},   {54, 56, 33},
     {56, 68, 34},   {68, 70, 34},   {70, 74, 34},   {74, 84, 34},   {84, 86, 34},   {86, 88, 35},
     {88, 90, 35},   {90, 94, 35},   {94, 96, 35},   {96, 108, 33},  {108, 118, 33}, {118, 122, 33},
     {122, 132, 33}, {132, 134, 33}, {134, 140, 33}, {140, 142, 33}, {142, 144, 36}, {144, 146, 36}}};

TEST(CpythonFrames, LineTableGivesCpythonsLineForEveryInstruction) {
  for (const Recorded* r : {&kCrunchUnit, &kCrunchUntil}) {
    const std::string table = absl::HexStringToBytes(r->linetable_hex);
    for (const auto& [start, end, line] : r->lines)
      for (int off = start; off < end; off += 2)
        EXPECT_EQ(cpython311_line(table, r->firstlineno, off), line) << "offset " << off;
    // Past the table, and a frame before its first instruction (prev_instr = code - 1).
    EXPECT_EQ(cpython311_line(table, r->firstlineno, std::get<1>(r->lines.back())), 0);
    EXPECT_EQ(cpython311_line(table, r->firstlineno, -2), r->firstlineno);
  }
}

TEST(CpythonFrames, CorruptLineTablesGiveNoLine) {
  EXPECT_EQ(cpython311_line("", 10, 0), 0);
  EXPECT_EQ(cpython311_line(std::string("\x01\x02", 2), 10, 0), 0);  // no entry-start bit
  EXPECT_EQ(cpython311_line(std::string("\xf8", 1), 10, 0), 0);      // code 15: no location
  // A long-form entry cut short: the line is read from what is there, never past it.
  EXPECT_EQ(cpython311_line(std::string("\xf0", 1), 10, 0), 10);
}

TEST(CpythonFrames, NotAPythonProcessIsAnError) {
  CpythonFrames frames;
  auto s = frames.stack(static_cast<uint32_t>(getpid()), static_cast<uint32_t>(getpid()));
  EXPECT_FALSE(s.ok());
}

// A live CPython 3.11 (Debian's python3, the one CI has): two threads spinning in
// known loops; their stacks are read from the outside by native thread id.
TEST(CpythonFrames, ReadsTheLoopLinesOfTwoThreadsOfALivePython311) {
  const char* python = "/usr/bin/python3.11";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " is not installed";
  char dir[] = "/tmp/ccprof_py_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string script = std::string(dir) + "/spin.py";
  std::ofstream(script) << "import threading\n"          // 1
                           "def sp\u00efn_thread(ready):\n"  // 2
                           "    x = 0\n"                   // 3
                           "    ready.set()\n"             // 4
                           "    while True:\n"             // 5
                           "        x += 1\n"              // 6
                           "def spin_main():\n"            // 7
                           "    x = 0\n"                   // 8
                           "    while True:\n"             // 9
                           "        x += 1\n"              // 10
                           "ready = threading.Event()\n"
                           "t = threading.Thread(target=sp\u00efn_thread, args=(ready,), daemon=True)\n"
                           "t.start()\n"
                           "ready.wait()\n"
                           "print(t.native_id, flush=True)\n"
                           "spin_main()\n";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>(python), const_cast<char*>(script.c_str()), nullptr};
  ASSERT_EQ(posix_spawn(&pid, python, &fa, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  unsigned thread_tid = 0;
  const bool got = fscanf(f, "%u", &thread_tid) == 1;
  fclose(f);

  // Each read races the running threads (a frame can be popped mid-walk): retry until
  // both are seen in their loops, for at most 10 s on a busy machine.
  CpythonFrames frames;
  std::vector<model::PythonFrame> main_stack, thread_stack;
  for (int i = 0; got && i < 200; ++i) {
    auto m = frames.stack(pid, pid);
    auto t = frames.stack(pid, thread_tid);
    if (m.ok() && !m->empty() && m->front().function == "spin_main") main_stack = *m;
    if (t.ok() && !t->empty() && t->front().function == "sp\u00efn_thread") thread_stack = *t;
    if (!main_stack.empty() && !thread_stack.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  unlink(script.c_str());
  rmdir(dir);
  ASSERT_TRUE(got) << "the script printed no thread id";

  ASSERT_EQ(main_stack.size(), 2u);
  EXPECT_EQ(main_stack[0].file, script);
  EXPECT_TRUE(main_stack[0].line == 9 || main_stack[0].line == 10) << main_stack[0].line;
  EXPECT_EQ(main_stack[1].function, "<module>");
  EXPECT_EQ(main_stack[1].line, 16);

  ASSERT_GE(thread_stack.size(), 2u);
  EXPECT_EQ(thread_stack[0].function, "sp\u00efn_thread");  // a latin-1 str, converted to UTF-8
  EXPECT_TRUE(thread_stack[0].line == 5 || thread_stack[0].line == 6) << thread_stack[0].line;
  EXPECT_EQ(thread_stack[1].function, "Thread.run");
  EXPECT_NE(thread_stack[1].file.find("threading.py"), std::string::npos);
}

pid_t spawn(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  return posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0 ? pid : -1;
}

void end(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// The frame sampler does not keep waking for a target that is not Python (issue 13): it
// stops about a second after the target's executable settled.
TEST(CpythonFrames, SamplerStopsForATargetThatIsNotPython) {
  const pid_t pid = spawn({"/bin/sleep", "10"});
  ASSERT_GT(pid, 0);
  CpythonFrames frames;
  frames.start_sampler(static_cast<uint32_t>(pid));
  EXPECT_TRUE(frames.sampling());
  bool stopped = false;
  for (int i = 0; i < 100 && !stopped; ++i) {  // up to 5 s on a busy machine
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stopped = !frames.sampling();
  }
  end(pid);
  EXPECT_TRUE(stopped) << "the frame sampler still runs for /bin/sleep";
  model::Recording rec;
  frames.finish(rec);
  EXPECT_FALSE(rec.has_python);
}

// ...and keeps reading a Python target, keeping its reads for the memory samples.
TEST(CpythonFrames, SamplerKeepsReadingAPython311AndKeepsItsReads) {
  const char* python = "/usr/bin/python3.11";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " is not installed";
  const pid_t pid = spawn({python, "-c", "import time\ntime.sleep(10)"});
  ASSERT_GT(pid, 0);
  // Watch the interpreter once it runs the script (asleep in time.sleep: clock_nanosleep,
  // syscall 230), as when ccprof attaches to a running Python: on a machine busy with
  // other tests its start-up can outlast the sampler's 1 s wait for a Python runtime.
  for (int i = 0; i < 250; ++i) {
    std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
    std::string nr;
    if (sc >> nr && (nr == "230" || nr == "35")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CpythonFrames frames;
  frames.start_sampler(static_cast<uint32_t>(pid));
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  const bool sampling = frames.sampling();
  model::Recording rec;
  frames.finish(rec);
  end(pid);
  EXPECT_TRUE(sampling) << "the frame sampler stopped for a Python target";
  ASSERT_TRUE(rec.has_python);
  ASSERT_FALSE(rec.python.reads.empty());
  EXPECT_EQ(rec.python.read_period_ns, 10'000'000u);
  const model::PythonReadRun& last = rec.python.reads.back();
  EXPECT_EQ(last.tid, static_cast<uint32_t>(pid));
  EXPECT_LE(last.first_ns, last.last_ns);
  ASSERT_FALSE(last.frames.empty());
  const model::PythonFrame& inner = rec.python.frames.at(last.frames.front());
  EXPECT_EQ(inner.function, "<module>");
  EXPECT_EQ(inner.line, 2);  // time.sleep(10)
  // One unchanging stack read every ~10 ms (~160 reads): runs of them, not one entry per
  // read (a read more than 20 ms after the last, on a stalled machine, starts a run).
  EXPECT_LT(rec.python.reads.size(), 100u);
}

}  // namespace
}  // namespace ccprof::agent
