// Small RAII layer over the HDF5 C library for the Keras files: handles that
// close themselves, groups/datasets/attributes by path, and string
// attributes in every flavour h5py writes (spec keras-formats.md §1). Every
// HDF5 failure becomes a Status naming the file and the object; an object's
// attributes are checked before libhdf5 decodes them (hdf5_attribute_check.h),
// as libhdf5 crashes or hangs on some damaged ones. Internal to
// storage/keras. Not thread-safe (HDF5 serializes its own calls).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage::keras {

// An hid_t closed with the matching H5*close on destruction.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(Hid&& other) noexcept : id_(other.id_) { other.id_ = -1; }
  Hid& operator=(Hid&& other) noexcept;
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid();
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
};

class H5File {
 public:
  static StatusOr<H5File> Create(const std::string& path);  // truncates
  static StatusOr<H5File> Open(const std::string& path);    // read-only
  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }

  // Creates group `path` (and missing parents); returns it.
  StatusOr<Hid> CreateGroup(const std::string& path);
  StatusOr<Hid> OpenGroup(const std::string& path) const;
  bool Exists(const std::string& path) const;  // a link at `path` (each parent must exist)
  // Names directly under the group at `path`.
  StatusOr<std::vector<std::string>> List(const std::string& path) const;

  // float32 / int64 datasets (scalar when shape is empty); parents are created.
  Status WriteFloats(const std::string& path, const std::vector<int64_t>& shape,
                     const float* values);
  Status WriteInt64Scalar(const std::string& path, int64_t value);
  // A dataset of any float or integer type, converted to float32.
  Status ReadFloats(const std::string& path, std::vector<int64_t>* shape,
                    std::vector<float>* values) const;
  StatusOr<int64_t> ReadInt64Scalar(const std::string& path) const;

  // Attributes on the object at `object_path` ("/" for the root).
  Status WriteStringAttribute(const std::string& object_path, const std::string& name,
                              const std::string& value, bool utf8);
  // A 1-D fixed-length NULLPAD ASCII list (h5py's form for numpy S arrays);
  // an empty list becomes an empty float64 array, as h5py writes it.
  Status WriteStringListAttribute(const std::string& object_path, const std::string& name,
                                  const std::vector<std::string>& values);
  // False when absent; DataLoss when the object's attributes are damaged.
  StatusOr<bool> HasAttribute(const std::string& object_path, const std::string& name) const;
  // Scalar or single-element string attribute, any flavour.
  StatusOr<std::string> ReadStringAttribute(const std::string& object_path,
                                            const std::string& name) const;
  // A string list attribute; chunked `name0`, `name1`, ... pieces are joined;
  // absent, empty or non-string empty arrays read as an empty list.
  StatusOr<std::vector<std::string>> ReadStringListAttribute(const std::string& object_path,
                                                             const std::string& name) const;

 private:
  H5File(Hid file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}
  Status Error(const std::string& what) const;
  StatusOr<std::vector<std::string>> ReadStrings(hid_t attribute, const std::string& what) const;
  // CheckAttributes once per object; libhdf5 may touch its attributes after.
  Status CheckObjectAttributes(const std::string& object_path) const;

  Hid file_;
  std::string path_;
  mutable std::set<std::string> checked_objects_;
};

}  // namespace shardtrain::storage::keras
