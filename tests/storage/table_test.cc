// Tests for storage/io/table: TF's key shortening, exact bytes of the spec's
// worked example, byte-for-byte reproduction of every real uncompressed TF index
// file, Snappy blocks, multi-block tables, and damaged input (byte flips,
// truncations, random mutations) never crashing and always naming the file.
#include "storage/io/table.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/io/crc32c.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;
using Entries = std::vector<std::pair<std::string, std::string>>;

const std::string kTfDir = std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/tf";

std::string FromHex(const std::string& hex) {
  std::string out;
  std::string digits;
  for (char c : hex) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<std::string> RealIndexFiles() {
  std::vector<std::string> out;
  if (!fs::is_directory(kTfDir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(kTfDir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".index") {
      out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadReal(const std::string& path) {
  auto contents = PosixFileSystem()->ReadFile(path);
  EXPECT_TRUE(contents.ok()) << contents.status();
  return contents.ok() ? *contents : std::string();
}

// The compression byte of the first (data) block: the data block starts at 0.
uint8_t FirstBlockType(const std::string& file) {
  // The index handle is in the footer; the first data block's handle is the
  // first index entry's value. Decode via a rebuilt reader is circular, so parse
  // minimally: footer → index block → first entry value.
  std::string_view footer(file.data() + file.size() - 48, 40);
  uint64_t mo, ms, io, is;
  GetVarint64(&footer, &mo);
  GetVarint64(&footer, &ms);
  GetVarint64(&footer, &io);
  GetVarint64(&footer, &is);
  std::string_view index(file.data() + io, is);
  uint32_t shared, unshared, vlen;
  GetVarint32(&index, &shared);
  GetVarint32(&index, &unshared);
  GetVarint32(&index, &vlen);
  index.remove_prefix(unshared);
  uint64_t offset, size;
  GetVarint64(&index, &offset);
  GetVarint64(&index, &size);
  return static_cast<uint8_t>(file[offset + size]);
}

TEST(TableKeys, ShortestSeparator) {
  auto sep = [](std::string start, const std::string& limit) {
    table_internal::FindShortestSeparator(&start, limit);
    return start;
  };
  EXPECT_EQ(sep("abcd", "abzz"), "abd");  // 'c'+1 < 'z'
  EXPECT_EQ(sep("abc", "abd"), "abc");    // 'c'+1 == 'd': unchanged
  EXPECT_EQ(sep("ab", "abc"), "ab");      // prefix: unchanged
  EXPECT_EQ(sep("a\xff" "b", "b"), "a\xff" "b");  // 'a'+1 == 'b'
  EXPECT_EQ(sep("\xff" "a", "\xff" "c"), "\xff" "b");
  EXPECT_EQ(sep("c2", "e"), "d");
}

TEST(TableKeys, ShortSuccessor) {
  auto succ = [](std::string key) {
    table_internal::FindShortSuccessor(&key);
    return key;
  };
  EXPECT_EQ(succ("c2"), "d");
  EXPECT_EQ(succ("optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE"), "p");
  EXPECT_EQ(succ("w/.ATTRIBUTES/VARIABLE_VALUE"), "x");
  EXPECT_EQ(succ("\xff\xff" "a"), "\xff\xff" "b");
  EXPECT_EQ(succ("\xff\xff"), "\xff\xff");
  EXPECT_EQ(succ(""), "");
}

TEST(TableWriter, EmptyTableLayout) {
  auto table = BuildTable({});
  ASSERT_TRUE(table.ok()) << table.status();
  // empty data: no data block; metaindex (0, 8); index (13, 8); footer.
  ASSERT_EQ(table->size(), 13u + 13u + 48u);
  EXPECT_EQ(table->substr(0, 13), FromHex("00000000 01000000 00 c0f2a1b0"));
  EXPECT_EQ(table->substr(table->size() - 8), FromHex("57fb808b247547db"));
  auto reader = TableReader::Open(*table, "empty");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->entries().empty());
}

// Spec §1.2.7: the half_plus_three index, written from its decoded entries.
TEST(TableWriter, SpecWorkedExampleBytes) {
  const Entries entries = {
      {"", FromHex("08011a020801")},
      {"a", FromHex("0801 1200 2804 35 06 38 27 1f")},
      {"b", FromHex("0801 1200 2004 2804 35 ef d6 82 c3")},
      {"c", FromHex("0801 1200 2008 2804 35 ef d6 82 c3")},
  };
  const std::string expected = FromHex(
      "00 00 06 08 01 1a 02 08 01"
      "00 01 0b 61 08 01 12 00 28 04 35 06 38 27 1f"
      "00 01 0d 62 08 01 12 00 20 04 28 04 35 ef d6 82 c3"
      "00 01 0d 63 08 01 12 00 20 08 28 04 35 ef d6 82 c3"
      "00 00 00 00 01 00 00 00"
      "00 c1 e6 19 df"
      "00 00 00 00 01 00 00 00 00 c0 f2 a1 b0"
      "00 01 02 64 00 42 00 00 00 00 01 00 00 00"
      "00 58 b2 e9 f7"
      "47 08 54 0e 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
      "57 fb 80 8b 24 75 47 db");
  ASSERT_EQ(expected.size(), 151u);
  auto table = BuildTable(entries);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(*table, expected);

  // Through a WritableFile as well.
  MemoryFileSystem mem;
  auto file = mem.NewWritableFile("/t.index");
  ASSERT_TRUE(file.ok());
  TableBuilder builder(file->get());
  for (const auto& [k, v] : entries) ASSERT_TRUE(builder.Add(k, v).ok());
  ASSERT_TRUE(builder.Finish().ok());
  EXPECT_EQ(builder.num_entries(), 4u);
  EXPECT_EQ(builder.file_size(), 151u);
  EXPECT_EQ(*mem.ReadFile("/t.index"), expected);
}

TEST(TableWriter, RejectsUnsortedAndDuplicateKeys) {
  auto dup = BuildTable({{"a", "1"}, {"a", "2"}});
  EXPECT_EQ(dup.status().code(), StatusCode::kInvalidArgument);
  auto unsorted = BuildTable({{"b", "1"}, {"a", "2"}});
  EXPECT_EQ(unsorted.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsorted.status().message().find("strictly increasing"), std::string::npos);
  // Bytewise unsigned order: 0xff sorts after 'z'.
  EXPECT_TRUE(BuildTable({{"z", ""}, {"\xff", ""}}).ok());
  EXPECT_EQ(BuildTable({{"\xff", ""}, {"z", ""}}).status().code(), StatusCode::kInvalidArgument);
}

// Every real uncompressed index is reproduced byte for byte from its entries.
TEST(TableRealFiles, ReproducesEveryUncompressedIndexByteForByte) {
  const auto files = RealIndexFiles();
  if (files.empty()) GTEST_SKIP() << "no TF test data under " << kTfDir;
  int reproduced = 0, snappy = 0;
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    const std::string bytes = ReadReal(path);
    auto reader = TableReader::Open(bytes, path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_FALSE((*reader)->entries().empty());
    EXPECT_EQ((*reader)->entries().front().first, "");
    EXPECT_EQ((*reader)->entries().front().second, FromHex("08011a020801"));
    if (FirstBlockType(bytes) == kTableSnappyCompression) {
      ++snappy;
      continue;
    }
    auto rebuilt = BuildTable((*reader)->entries());
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    EXPECT_EQ(*rebuilt, bytes);
    ++reproduced;
  }
  EXPECT_EQ(reproduced, 8);
  EXPECT_EQ(snappy, 2);
}

TEST(TableRealFiles, SnappyDataBlocksDecode) {
  const std::string path =
      kTfDir + "/serving_saved_model_half_plus_two_cpu/00000123/variables/variables.index";
  if (!fs::exists(path)) GTEST_SKIP() << "no TF test data under " << kTfDir;
  const std::string bytes = ReadReal(path);
  EXPECT_EQ(bytes.size(), 172u);
  EXPECT_EQ(FirstBlockType(bytes), kTableSnappyCompression);
  auto reader = TableReader::Open(bytes, path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> keys;
  for (const auto& [k, v] : (*reader)->entries()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"", "a", "a2", "b", "c", "c2"}));
  ASSERT_NE((*reader)->Find("b"), nullptr);
  EXPECT_EQ((*reader)->Find("zzz"), nullptr);
}

TEST(TableRealFiles, KerasIndexHasTwoRestartRuns) {
  const std::string path = kTfDir + "/rust_keras_single_input_saved_model/variables/variables.index";
  if (!fs::exists(path)) GTEST_SKIP() << "no TF test data under " << kTfDir;
  const std::string bytes = ReadReal(path);
  auto reader = TableReader::Open(bytes, path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->entries().size(), 29u);
  auto rebuilt = BuildTable((*reader)->entries());
  ASSERT_TRUE(rebuilt.ok());
  // The data block ends with restarts [0, 888], R = 2 (found via the index handle).
  std::string_view footer(rebuilt->data() + rebuilt->size() - 48, 40);
  uint64_t mo, ms;
  ASSERT_TRUE(GetVarint64(&footer, &mo) && GetVarint64(&footer, &ms));
  // metaindex immediately follows the data block and its trailer.
  const size_t data_size = mo - kTableBlockTrailerSize;
  EXPECT_EQ(DecodeFixed32(rebuilt->data() + data_size - 4), 2u);
  EXPECT_EQ(DecodeFixed32(rebuilt->data() + data_size - 8), 888u);
  EXPECT_EQ(DecodeFixed32(rebuilt->data() + data_size - 12), 0u);
}

// A table whose data block we compress with Snappy ourselves.
TEST(TableReader, ReadsSnappyBlocksItBuilds) {
  Entries entries;
  for (int i = 0; i < 50; ++i) {
    entries.emplace_back("key/" + std::to_string(1000 + i), std::string(100, 'v'));
  }
  auto plain = BuildTable(entries);
  ASSERT_TRUE(plain.ok());
  // Re-assemble: data block → Snappy, then the rest re-using our writer's code path
  // for the index (handle changes) by hand.
  auto reader = TableReader::Open(*plain, "plain");
  ASSERT_TRUE(reader.ok());
  std::string_view footer(plain->data() + plain->size() - 48, 40);
  uint64_t mo, ms;
  ASSERT_TRUE(GetVarint64(&footer, &mo) && GetVarint64(&footer, &ms));
  const std::string raw = plain->substr(0, mo - kTableBlockTrailerSize);
  std::string compressed;
  snappy::Compress(raw.data(), raw.size(), &compressed);
  ASSERT_LT(compressed.size(), raw.size());
  std::string file = compressed;
  file.push_back(static_cast<char>(kTableSnappyCompression));
  const char type = static_cast<char>(kTableSnappyCompression);
  PutFixed32(&file, Crc32cMask(Crc32cExtend(Crc32c(compressed.data(), compressed.size()), &type, 1)));
  auto append_block = [&file](const std::string& block, uint64_t* offset) {
    *offset = file.size();
    file += block;
    const char none = 0;
    file.push_back(none);
    PutFixed32(&file, Crc32cMask(Crc32cExtend(Crc32c(block.data(), block.size()), &none, 1)));
  };
  uint64_t meta_offset, index_offset;
  const std::string empty_block = FromHex("0000000001000000");
  append_block(empty_block, &meta_offset);
  std::string index;
  std::string handle;
  PutVarint64(&handle, 0);
  PutVarint64(&handle, compressed.size());
  std::string last = "key/1049";
  table_internal::FindShortSuccessor(&last);
  PutVarint64(&index, 0);
  PutVarint64(&index, last.size());
  PutVarint64(&index, handle.size());
  index += last + handle;
  PutFixed32(&index, 0);
  PutFixed32(&index, 1);
  append_block(index, &index_offset);
  std::string foot;
  PutVarint64(&foot, meta_offset);
  PutVarint64(&foot, 8);
  PutVarint64(&foot, index_offset);
  PutVarint64(&foot, index.size());
  foot.resize(40, '\0');
  PutFixed64(&foot, kTableMagic);
  file += foot;
  auto snappy_reader = TableReader::Open(file, "snappy");
  ASSERT_TRUE(snappy_reader.ok()) << snappy_reader.status();
  EXPECT_EQ((*snappy_reader)->entries(), entries);

  // Garbage in a Snappy block whose CRC is right: DataLoss, not a crash.
  std::string bad = file;
  bad[0] = static_cast<char>(0xff);
  bad[1] = static_cast<char>(0xff);
  const uint32_t crc = Crc32cExtend(Crc32c(bad.data(), compressed.size()), &type, 1);
  std::string crc_bytes;
  PutFixed32(&crc_bytes, Crc32cMask(crc));
  bad.replace(compressed.size() + 1, 4, crc_bytes);
  auto bad_reader = TableReader::Open(bad, "bad-snappy");
  EXPECT_EQ(bad_reader.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad_reader.status().message().find("Snappy"), std::string::npos)
      << bad_reader.status();
}

TEST(TableWriter, ManyBlocksRoundTrip) {
  Entries entries;
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "layer_%05d/kernel", i);
    entries.emplace_back(key, std::string(rng() % 300, static_cast<char>('a' + i % 26)));
  }
  TableOptions small;
  small.block_size = 4096;
  auto table = BuildTable(entries, small);
  ASSERT_TRUE(table.ok());
  auto reader = TableReader::Open(*table, "many");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->entries(), entries);
  for (int i = 0; i < 3000; i += 97) {
    const std::string* v = (*reader)->Find(entries[i].first);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, entries[i].second);
  }
  // Default block size with values larger than a block: each gets its own block.
  Entries big = {{"a", std::string(300000, 'x')}, {"b", "small"}, {"c", std::string(600000, 'y')},
                 {"d", ""}};
  auto big_table = BuildTable(big);
  ASSERT_TRUE(big_table.ok());
  auto big_reader = TableReader::Open(*big_table, "big");
  ASSERT_TRUE(big_reader.ok()) << big_reader.status();
  EXPECT_EQ((*big_reader)->entries(), big);
}

TEST(TableReader, EveryByteFlipIsDetectedOrHarmless) {
  const Entries entries = {{"", "header"}, {"alpha", "1"}, {"beta", "22"}, {"gamma", "333"}};
  auto table = BuildTable(entries);
  ASSERT_TRUE(table.ok());
  const size_t handles_end = [&] {
    std::string_view footer(table->data() + table->size() - 48, 40);
    const size_t before = footer.size();
    uint64_t v;
    for (int i = 0; i < 4; ++i) GetVarint64(&footer, &v);
    return table->size() - 48 + (before - footer.size());
  }();
  for (size_t i = 0; i < table->size(); ++i) {
    std::string damaged = *table;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    auto reader = TableReader::Open(damaged, "flip.index");
    const bool in_padding = i >= handles_end && i < table->size() - 8;
    if (in_padding) {
      ASSERT_TRUE(reader.ok()) << "byte " << i << ": " << reader.status();
      EXPECT_EQ((*reader)->entries(), entries);
      continue;
    }
    ASSERT_FALSE(reader.ok()) << "flip of byte " << i << " went unnoticed";
    EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss) << reader.status();
    EXPECT_NE(reader.status().message().find("flip.index"), std::string::npos);
  }
}

TEST(TableReader, ChecksumErrorNamesFileAndBlockOffset) {
  auto table = BuildTable({{"a", "1"}});
  ASSERT_TRUE(table.ok());
  std::string damaged = *table;
  damaged[4] ^= 1;  // inside the data block at offset 0
  auto reader = TableReader::Open(damaged, "/ckpt/model.index");
  ASSERT_EQ(reader.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("/ckpt/model.index"), std::string::npos);
  EXPECT_NE(reader.status().message().find("data block at offset 0"), std::string::npos)
      << reader.status();
  EXPECT_NE(reader.status().message().find("checksum"), std::string::npos);
}

// Specific errors for a damaged footer and for keys out of order behind valid CRCs.
TEST(TableReader, BadMagicAndUnsortedKeysAreNamed) {
  auto table = BuildTable({{"a", "1"}, {"b", "2"}});
  ASSERT_TRUE(table.ok());
  std::string bad_magic = *table;
  bad_magic[bad_magic.size() - 1] ^= 0xff;
  auto reader = TableReader::Open(bad_magic, "m.index");
  EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("bad magic number"), std::string::npos) << reader.status();
  // Data block: 00 01 01 'a' '1' | 00 01 01 'b' '2' | restart 0 | count 1, then the trailer.
  std::string swapped = *table;
  ASSERT_EQ(swapped.substr(0, 10), std::string("\x00\x01\x01" "a1" "\x00\x01\x01" "b2", 10));
  std::swap(swapped[3], swapped[8]);
  const size_t block_size = 18;
  uint32_t crc = Crc32cExtend(Crc32c(swapped.data(), block_size), swapped.data() + block_size, 1);
  crc = Crc32cMask(crc);
  std::memcpy(&swapped[block_size + 1], &crc, 4);
  reader = TableReader::Open(swapped, "m.index");
  EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("keys out of order"), std::string::npos) << reader.status();
}

TEST(TableReader, EveryTruncationIsDataLoss) {
  auto table = BuildTable({{"", "h"}, {"k1", "v1"}, {"k2", "v2"}});
  ASSERT_TRUE(table.ok());
  for (size_t n = 0; n < table->size(); ++n) {
    auto reader = TableReader::Open(std::string_view(table->data(), n), "cut.index");
    ASSERT_FALSE(reader.ok()) << "truncated to " << n;
    EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(reader.status().message().find("cut.index"), std::string::npos);
  }
}

// Random damage to real files (and random garbage behind a valid footer) must
// never crash; when the CRCs are made to match, the parser's own bounds checks
// are exercised.
TEST(TableReader, RandomMutationsNeverCrash) {
  std::vector<std::string> samples;
  for (const std::string& path : RealIndexFiles()) samples.push_back(ReadReal(path));
  auto own = BuildTable({{"", "h"}, {"a/b", "12345"}, {"a/c", "x"}});
  ASSERT_TRUE(own.ok());
  samples.push_back(*own);
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string data = samples[rng() % samples.size()];
    const int flips = 1 + rng() % 4;
    for (int f = 0; f < flips; ++f) data[rng() % data.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) data.resize(rng() % (data.size() + 1));
    if (rng() % 2 == 0 && data.size() >= 53) {
      // Re-seal every block CRC we can find via the footer so block parsing is reached.
      std::string_view footer(data.data() + data.size() - 48, 40);
      uint64_t v[4];
      bool ok = true;
      for (auto& x : v) ok = ok && GetVarint64(&footer, &x);
      for (int b = 0; ok && b < 2; ++b) {
        const uint64_t off = v[2 * b], size = v[2 * b + 1];
        if (off + size + 5 <= data.size() - 48 && off + size >= off) {
          const char type = data[off + size];
          std::string crc;
          PutFixed32(&crc, Crc32cMask(Crc32cExtend(Crc32c(data.data() + off, size), &type, 1)));
          data.replace(off + size + 1, 4, crc);
        }
      }
    }
    auto reader = TableReader::Open(data, "fuzz.index");
    if (reader.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss) << reader.status();
    }
  }
  SUCCEED() << accepted << " mutated tables were still valid";
}

}  // namespace
}  // namespace shardtrain::storage
