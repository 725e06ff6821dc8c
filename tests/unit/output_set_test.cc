// Outputs are written as one set (report/output_set.h): all of them or none.
#include "report/output_set.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ccprof::report {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

class OutputSet : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("outset-" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(OutputSet, WritesEveryFileWithItsContent) {
  ASSERT_TRUE(prepare_output_dir(dir_).ok());
  EXPECT_TRUE(names(dir_).empty()) << "the write test left a file behind";
  ASSERT_TRUE(write_output_set(dir_, {{"a.json", "{}", "findings"}, {"b.html", "<p>", "report"}}).ok());
  EXPECT_EQ(names(dir_), (std::vector<std::string>{"a.json", "b.html"}));
  EXPECT_EQ(read(dir_ / "a.json"), "{}");
  EXPECT_EQ(read(dir_ / "b.html"), "<p>");
  EXPECT_EQ(fs::status(dir_ / "a.json").permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST_F(OutputSet, AFailureLeavesTheEarlierSetAndNoTemporaries) {
  ASSERT_TRUE(prepare_output_dir(dir_).ok());
  ASSERT_TRUE(write_output_set(dir_, {{"a.json", "old-a", "findings"}, {"b.html", "old-b", "report"}}).ok());
  // The second file cannot be made (its folder does not exist): the first, already
  // written to its temporary, must not replace the old one.
  auto s = write_output_set(dir_, {{"a.json", "new-a", "findings"}, {"missing/b.html", "new-b", "report"}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot write report"), std::string::npos) << s;
  EXPECT_EQ(read(dir_ / "a.json"), "old-a");
  EXPECT_EQ(read(dir_ / "b.html"), "old-b");
  EXPECT_EQ(names(dir_), (std::vector<std::string>{"a.json", "b.html"}));
}

TEST_F(OutputSet, AnUnusableFolderFailsBeforeAnythingIsWritten) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  auto s = prepare_output_dir((dir_ / "file" / "out").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot create output folder"), std::string::npos) << s;
  EXPECT_NE(s.message().find("Not a directory"), std::string::npos) << s;
}

}  // namespace
}  // namespace ccprof::report
