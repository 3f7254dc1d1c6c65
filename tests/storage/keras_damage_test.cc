// Damaged Keras files (issue 24 §5) are DataLoss naming the file and the
// object, never a crash or a hang: a damaged global heap (where HDF5 keeps
// variable-length string attributes; libhdf5 itself crashes or loops on one)
// and a .keras member that fails its zip CRC. The damaged inputs are made
// here from small files our writers produce, damaged the way a mutation probe
// damaged exported models. Also: variable-length strings in version 2 object
// headers and in continuation chunks still read.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "storage/keras/hdf5_file.h"
#include "storage/keras/keras_files.h"

namespace shardtrain::storage::keras {
namespace {

// Per process: ctest runs this suite's cases as concurrent processes, and
// each SetUp writes and removes its own "intact.h5".
std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/keras_damage_" + std::to_string(getpid()) + "_" + name;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A Sequential MLP's config padded to about the size of an exported one.
KerasModelFile SmallModel() {
  KerasModelFile model;
  model.model_config_json =
      R"({"class_name": "Sequential", "config": {"name": "sequential", "layers": [)"
      R"({"class_name": "Dense", "config": {"name": "dense", "units": 3, "padding": ")" +
      std::string(1000, 'x') + R"("}}]}})";
  model.training_config_json = R"({"loss": "mse", "padding": ")" + std::string(500, 'y') + "\"}";
  KerasLayerWeights dense;
  dense.name = "dense";
  dense.class_name = "Dense";
  dense.weights.push_back({"kernel", {4, 3}, std::vector<float>(12, 0.5f)});
  dense.weights.push_back({"bias", {3}, std::vector<float>(3, 0.25f)});
  model.layers.push_back(dense);
  return model;
}

// An object of the file's first global heap collection (8-byte lengths).
struct HeapObject {
  size_t at;  // file offset of its 16-byte header
  uint64_t index;
  uint64_t size;
};

uint64_t LittleEndian(const std::string& bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) value |= uint64_t{uint8_t(bytes[at + i])} << (8 * i);
  return value;
}

std::vector<HeapObject> HeapObjects(const std::string& bytes) {
  std::vector<HeapObject> objects;
  const size_t collection = bytes.find("GCOL");
  if (collection == std::string::npos) return objects;
  const uint64_t end = collection + LittleEndian(bytes, collection + 8, 8);
  for (size_t at = collection + 16; at + 16 <= end;) {
    HeapObject object{at, LittleEndian(bytes, at, 2), LittleEndian(bytes, at + 8, 8)};
    if (object.index == 0) break;  // free space: the rest
    objects.push_back(object);
    at += 16 + (object.size + 7) / 8 * 8;
  }
  return objects;
}

// The heap object holding `text` (a string attribute's value).
HeapObject ObjectHolding(const std::string& bytes, const std::string& text) {
  for (const HeapObject& object : HeapObjects(bytes)) {
    if (bytes.compare(object.at + 16, text.size(), text) == 0 && object.size == text.size()) {
      return object;
    }
  }
  ADD_FAILURE() << "no heap object holds " << text.substr(0, 40);
  return {0, 0, 0};
}

// Writes `bytes` as `name`, reads it, and expects DataLoss naming the file.
void ExpectDataLoss(const std::string& name, const std::string& bytes, const std::string& object) {
  const std::string path = TempPath(name);
  WriteBytes(path, bytes);
  auto read = ReadKerasFile(path);
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << name << ": " << read.status();
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status();
  EXPECT_NE(read.status().message().find(object), std::string::npos) << read.status();
  std::remove(path.c_str());
}

class DamagedLegacyH5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = SmallModel();
    const std::string path = TempPath("intact.h5");
    ASSERT_TRUE(WriteLegacyH5(path, model_).ok());
    bytes_ = ReadBytes(path);
    ASSERT_TRUE(ReadKerasFile(path).ok());
    std::remove(path.c_str());
    ASSERT_GE(HeapObjects(bytes_).size(), 4u);
  }
  KerasModelFile model_;
  std::string bytes_;
};

TEST_F(DamagedLegacyH5Test, HeapObjectSizeFarTooLargeIsDataLoss) {
  // The probe's byte 2109 = 0xe8: byte 5 of the size of keras_version's object.
  std::string damaged = bytes_;
  damaged[ObjectHolding(bytes_, "2.12.0").at + 8 + 5] = static_cast<char>(0xe8);
  ExpectDataLoss("size_e8.h5", damaged, "attribute /@");
}

TEST_F(DamagedLegacyH5Test, HeapObjectSizeOneBitTooLargeIsDataLoss) {
  // The probe's bit 0x01 of byte 3315: byte 3 of training_config's size (+16 MiB).
  std::string damaged = bytes_;
  damaged[ObjectHolding(bytes_, model_.training_config_json).at + 8 + 3] ^= 0x01;
  ExpectDataLoss("size_bit.h5", damaged, "attribute /@");
}

TEST_F(DamagedLegacyH5Test, ZeroedHeapIsDataLossNotAHang) {
  // The probe's zeroed bytes 3067-4974: from inside model_config through the
  // following objects, leaving a zero-size entry libhdf5 loops on forever.
  std::string damaged = bytes_;
  const HeapObject config = ObjectHolding(bytes_, model_.model_config_json);
  std::memset(damaged.data() + config.at + 16 + config.size - 100, 0, 1908);
  ExpectDataLoss("zeroed.h5", damaged, "attribute /@");
}

TEST_F(DamagedLegacyH5Test, MissingHeapObjectIsDataLoss) {
  // model_config's object renumbered: its reference points at no object.
  std::string damaged = bytes_;
  damaged[ObjectHolding(bytes_, model_.model_config_json).at] = 99;
  ExpectDataLoss("renumbered.h5", damaged, "attribute /@model_config");
}

TEST_F(DamagedLegacyH5Test, VlenStringTypeOfTheWrongSizeIsDataLoss) {
  // The fuzzer's find: a variable-length string datatype (version 1, class 9,
  // string) whose declared size is 17, not the 16 bytes its elements take
  // (length, heap address, index): libhdf5 stores 17 bytes and reads past them.
  const std::string vlen_string("\x19\x01", 2);
  size_t at = bytes_.find(vlen_string);
  while (at != std::string::npos && LittleEndian(bytes_, at + 4, 4) != 16) {
    at = bytes_.find(vlen_string, at + 1);
  }
  ASSERT_NE(at, std::string::npos) << "no variable-length string datatype in the file";
  std::string damaged = bytes_;
  damaged[at + 4] = 17;
  ExpectDataLoss("vlen_size.h5", damaged, "attribute /@");
}

TEST(DamagedWeightsH5Test, DamagedLayerNameIsDataLoss) {
  const std::string path = TempPath("intact.weights.h5");
  ASSERT_TRUE(WriteWeightsH5(path, SmallModel()).ok());
  std::string damaged = ReadBytes(path);
  std::remove(path.c_str());
  damaged[ObjectHolding(damaged, "dense").at + 8 + 5] = static_cast<char>(0xe8);
  ExpectDataLoss("damaged.weights.h5", damaged, "/layers/dense/vars@name");
}

// The offset of member `name`'s data in a zip archive of stored members.
size_t MemberData(const std::string& zip, const std::string& name) {
  for (size_t at = zip.find("PK\x03\x04"); at != std::string::npos;
       at = zip.find("PK\x03\x04", at + 4)) {
    const size_t name_size = LittleEndian(zip, at + 26, 2);
    const size_t extra_size = LittleEndian(zip, at + 28, 2);
    if (zip.compare(at + 30, name_size, name) == 0) return at + 30 + name_size + extra_size;
  }
  ADD_FAILURE() << "no member " << name;
  return 0;
}

TEST(DamagedKerasArchiveTest, MembersFailingTheirCrcAreDataLoss) {
  const std::string path = TempPath("intact.keras");
  ASSERT_TRUE(WriteKerasArchive(path, SmallModel()).ok());
  const std::string bytes = ReadBytes(path);
  std::remove(path.c_str());
  // A kernel value's byte in the weights file: HDF5 alone would read it as valid.
  std::string weights = bytes;
  const size_t kernel = weights.find(std::string("\x00\x00\x00\x3f\x00\x00\x00\x3f", 8),
                                     MemberData(bytes, "model.weights.h5"));
  ASSERT_NE(kernel, std::string::npos);
  weights[kernel + 3] = 0x40;
  ExpectDataLoss("weights_crc.keras", weights, "model.weights.h5");
  // A letter of the config's padding: still valid JSON.
  std::string config = bytes;
  config[config.find("xxxx", MemberData(bytes, "config.json"))] = 'z';
  ExpectDataLoss("config_crc.keras", config, "config.json");
}

// Writes `count` vlen string attributes on group /g of a new file; `latest`
// uses the newest object header format (version 2, creation order tracked).
void WriteManyAttributes(const std::string& path, bool latest, int count) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (latest) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (latest) {
    H5Pset_attr_creation_order(gcpl, H5P_CRT_ORDER_TRACKED);
    H5Pset_attr_phase_change(gcpl, 1000, 1000);  // compact: messages in the header
  }
  hid_t group = H5Gcreate2(file, "/g", H5P_DEFAULT, gcpl, H5P_DEFAULT);
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  for (int i = 0; i < count; ++i) {
    const std::string name = "a" + std::to_string(i), value = "value " + std::to_string(i);
    const char* text = value.c_str();
    hid_t attribute = H5Acreate2(group, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attribute, type, &text);
    H5Aclose(attribute);
  }
  for (hid_t id : {space, type}) H5Idec_ref(id);
  for (hid_t id : {group, gcpl, file, fapl}) H5Idec_ref(id);
}

TEST(VlenStringAttributeTest, ReadsFromEveryObjectHeaderLayout) {
  for (bool latest : {false, true}) {
    const std::string path = TempPath(latest ? "v2.h5" : "v1.h5");
    WriteManyAttributes(path, latest, 40);  // 40 messages spill into continuation chunks
    if (latest) {
      ASSERT_NE(ReadBytes(path).find("OCHK"), std::string::npos);
    }
    auto file = H5File::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    for (int i : {0, 17, 39}) {
      auto value = file->ReadStringAttribute("/g", "a" + std::to_string(i));
      ASSERT_TRUE(value.ok()) << (latest ? "v2: " : "v1: ") << value.status();
      EXPECT_EQ(*value, "value " + std::to_string(i));
    }
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace shardtrain::storage::keras
