// Tests for storage/events: the event files our writer makes, read back by an
// independent reader (tests/storage/events_test_util.h: its own CRC, framing
// and protobuf wire decoding), the file name, and error reporting.
#include "storage/events/event_file_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "tests/storage/events_test_util.h"

namespace shardtrain::storage::events {
namespace {

namespace fs = std::filesystem;
using ::shardtrain::testing::SpecEvent;
using ::shardtrain::testing::SpecReadEventFile;

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shardtrain_events_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(EventFileNameTest, MatchesTensorFlowsPattern) {
  EXPECT_EQ(EventFileWriter::FileName(1700000000, "host-a", 1234, 0),
            "events.out.tfevents.1700000000.host-a.1234.0.v2");
  // Seconds are zero-padded to 10 digits.
  EXPECT_EQ(EventFileWriter::FileName(42, "h", 1, 7), "events.out.tfevents.0000000042.h.1.7.v2");
}

TEST_F(EventsTest, FirstRecordIsTheFileVersion) {
  const double before = WallTimeNow();
  auto writer = EventFileWriter::Open((dir_ / "logs" / "train").string());
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::string name = fs::path((*writer)->path()).filename().string();
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+\.v2)")))
      << name;
  EXPECT_EQ(fs::path((*writer)->path()).parent_path(), dir_ / "logs" / "train");
  // Flushed at once: readable before Close().
  std::vector<SpecEvent> events = SpecReadEventFile((*writer)->path());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_FALSE(events[0].has_summary);
  EXPECT_GE(events[0].wall_time, before - 1);
  EXPECT_LE(events[0].wall_time, WallTimeNow() + 1);
  ASSERT_TRUE((*writer)->Close().ok());
}

TEST_F(EventsTest, ScalarsAreTf2ScalarSummariesFlushedPerWrite) {
  auto writer = EventFileWriter::Open(dir_.string());
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteScalar("epoch_loss", 0, 0.5f, 1700000000.25).ok());
  ASSERT_TRUE((*writer)->WriteScalar("epoch_accuracy", 0, 0.875f).ok());
  {
    // Visible to a reader (TensorBoard) before Close().
    std::vector<SpecEvent> events = SpecReadEventFile((*writer)->path());
    ASSERT_EQ(events.size(), 3u);
  }
  ASSERT_TRUE((*writer)->WriteScalar("epoch_loss", 1, -3.25e-3f).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ASSERT_TRUE((*writer)->Close().ok());  // idempotent

  std::vector<SpecEvent> events = SpecReadEventFile((*writer)->path());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].tag, "epoch_loss");
  EXPECT_EQ(events[1].step, 0);
  EXPECT_EQ(events[1].wall_time, 1700000000.25);
  ASSERT_TRUE(events[1].value.has_value());
  EXPECT_EQ(*events[1].value, 0.5f);
  EXPECT_EQ(events[2].tag, "epoch_accuracy");
  EXPECT_EQ(*events[2].value, 0.875f);
  EXPECT_EQ(events[3].step, 1);
  EXPECT_EQ(*events[3].value, -3.25e-3f);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_TRUE(events[i].has_summary);
    EXPECT_TRUE(events[i].file_version.empty());
    EXPECT_EQ(events[i].tensor_dtype, 1) << "DT_FLOAT";
    EXPECT_TRUE(events[i].tensor_shape_is_scalar);
    EXPECT_EQ(events[i].plugin_name, "scalars");
  }
}

TEST_F(EventsTest, TwoWritersInOneDirectoryGetDistinctFiles) {
  auto a = EventFileWriter::Open(dir_.string());
  auto b = EventFileWriter::Open(dir_.string());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->path(), (*b)->path());
}

TEST_F(EventsTest, UnwritableDirectoryIsAnErrorNamingIt) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";  // a file where a directory should go
  auto writer = EventFileWriter::Open((dir_ / "file" / "train").string());
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(writer.status().message().find((dir_ / "file" / "train").string()), std::string::npos)
      << writer.status();
}

}  // namespace
}  // namespace shardtrain::storage::events
