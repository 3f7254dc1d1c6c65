#include "storage/keras/hdf5_file.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "storage/keras/hdf5_attribute_check.h"

namespace shardtrain::storage::keras {
namespace {

// HDF5 prints its error stack to stderr by default; we report Status instead.
void SilenceHdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

void CloseId(hid_t id) {
  if (id < 0) return;
  switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
  }
}

// A creation property list of `plist_class` (H5P_FILE_CREATE, H5P_GROUP_CREATE,
// H5P_DATASET_CREATE) that records no object times: HDF5 otherwise stamps
// each object header with the second it was written, so the same weights
// written in two seconds would give two different files.
StatusOr<Hid> UntimedCreation(hid_t plist_class, const std::string& what) {
  Hid plist(H5Pcreate(plist_class));
  if (!plist.valid() || H5Pset_obj_track_times(plist.get(), 0) < 0) {
    return InternalError("HDF5: cannot make the creation property list of " + what);
  }
  return plist;
}

// The parent group of `path` ("/a/b/c" -> "/a/b"; "/" for a top-level name).
std::string ParentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Hid& Hid::operator=(Hid&& other) noexcept {
  if (this != &other) {
    CloseId(id_);
    id_ = other.id_;
    other.id_ = -1;
  }
  return *this;
}

Hid::~Hid() { CloseId(id_); }

Status H5File::Error(const std::string& what) const {
  return DataLossError("HDF5 file '" + path_ + "': " + what);
}

StatusOr<H5File> H5File::Create(const std::string& path) {
  SilenceHdf5();
  // The file creation list also makes the root group (it is a group creation list).
  ASSIGN_OR_RETURN(Hid fcpl, UntimedCreation(H5P_FILE_CREATE, "'" + path + "'"));
  Hid file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT));
  if (!file.valid()) return PermissionDeniedError("cannot create HDF5 file '" + path + "'");
  return H5File(std::move(file), path);
}

StatusOr<H5File> H5File::Open(const std::string& path) {
  SilenceHdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return InvalidArgumentError("'" + path + "' is not an HDF5 file (or it is truncated)");
  }
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.valid()) return DataLossError("cannot open HDF5 file '" + path + "' (damaged?)");
  return H5File(std::move(file), path);
}

// Missing parents are created here, one by one, rather than by HDF5's
// intermediate-group option, which would give them the default (timed)
// creation list.
StatusOr<Hid> H5File::CreateGroup(const std::string& path) {
  if (path == "/" || path.empty()) return OpenGroup("/");
  if (Exists(path)) return OpenGroup(path);
  const std::string parent = ParentOf(path);
  if (parent != "/") RETURN_IF_ERROR(CreateGroup(parent).status());
  ASSIGN_OR_RETURN(Hid gcpl, UntimedCreation(H5P_GROUP_CREATE, "group " + path));
  Hid group(H5Gcreate2(id(), path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  if (!group.valid()) return Error("cannot create group " + path);
  return group;
}

StatusOr<Hid> H5File::OpenGroup(const std::string& path) const {
  Hid group(H5Gopen2(id(), path.c_str(), H5P_DEFAULT));
  if (!group.valid()) return Error("no group " + path);
  return group;
}

bool H5File::Exists(const std::string& path) const {
  if (path == "/" || path.empty()) return true;
  // Every parent must exist before H5Lexists may be asked about a child.
  size_t from = 1;
  while (true) {
    size_t slash = path.find('/', from);
    std::string prefix = path.substr(0, slash);
    if (H5Lexists(id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) return true;
    from = slash + 1;
  }
}

StatusOr<std::vector<std::string>> H5File::List(const std::string& path) const {
  ASSIGN_OR_RETURN(Hid group, OpenGroup(path));
  H5G_info_t info;
  if (H5Gget_info(group.get(), &info) < 0) return Error("cannot list " + path);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t size = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                      H5P_DEFAULT);
    if (size < 0) return Error("cannot list " + path);
    std::string name(static_cast<size_t>(size), '\0');
    H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                       static_cast<size_t>(size) + 1, H5P_DEFAULT);
    names.push_back(std::move(name));
  }
  return names;
}

namespace {

// A dataset at `path` with an untimed creation list; its missing parent
// groups are created first (H5File::CreateGroup).
StatusOr<Hid> CreateUntimedDataset(H5File& file, const std::string& path, hid_t type, hid_t space) {
  const std::string parent = ParentOf(path);
  if (parent != "/") RETURN_IF_ERROR(file.CreateGroup(parent).status());
  ASSIGN_OR_RETURN(Hid dcpl, UntimedCreation(H5P_DATASET_CREATE, "dataset " + path));
  Hid dataset(
      H5Dcreate2(file.id(), path.c_str(), type, space, H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!dataset.valid()) {
    return DataLossError("HDF5 file '" + file.path() + "': cannot create dataset " + path);
  }
  return dataset;
}

}  // namespace

Status H5File::WriteFloats(const std::string& path, const std::vector<int64_t>& shape,
                           const float* values) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Hid space(shape.empty() ? H5Screate(H5S_SCALAR)
                          : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  ASSIGN_OR_RETURN(Hid dataset, CreateUntimedDataset(*this, path, H5T_IEEE_F32LE, space.get()));
  if (H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    return Error("cannot write dataset " + path);
  }
  return OkStatus();
}

Status H5File::WriteInt64Scalar(const std::string& path, int64_t value) {
  Hid space(H5Screate(H5S_SCALAR));
  ASSIGN_OR_RETURN(Hid dataset, CreateUntimedDataset(*this, path, H5T_STD_I64LE, space.get()));
  if (H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0) {
    return Error("cannot write dataset " + path);
  }
  return OkStatus();
}

Status H5File::ReadFloats(const std::string& path, std::vector<int64_t>* shape,
                          std::vector<float>* values) const {
  Hid dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT));
  if (!dataset.valid()) return Error("no dataset " + path);
  Hid type(H5Dget_type(dataset.get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
    return InvalidArgumentError("HDF5 file '" + path_ + "': dataset " + path +
                                " is not numeric (class " + std::to_string(type_class) + ")");
  }
  Hid space(H5Dget_space(dataset.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) return Error("dataset " + path + " has a bad dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  shape->assign(dims.begin(), dims.end());
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0 || count > (int64_t{1} << 33)) return Error("dataset " + path + " is too large");
  // Bound the read by what the file can hold (a "shape bomb" must not allocate).
  const hsize_t stored = H5Dget_storage_size(dataset.get());
  if (count > 0 && stored < static_cast<hsize_t>(count) * H5Tget_size(type.get()) / 1024) {
    return Error("dataset " + path + " declares " + std::to_string(count) +
                 " elements but stores only " + std::to_string(stored) + " bytes");
  }
  values->assign(static_cast<size_t>(count), 0.0f);
  if (count > 0 &&
      H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values->data()) < 0) {
    return Error("cannot read dataset " + path + " (damaged?)");
  }
  return OkStatus();
}

StatusOr<int64_t> H5File::ReadInt64Scalar(const std::string& path) const {
  Hid dataset(H5Dopen2(id(), path.c_str(), H5P_DEFAULT));
  if (!dataset.valid()) return Error("no dataset " + path);
  Hid space(H5Dget_space(dataset.get()));
  if (H5Sget_simple_extent_npoints(space.get()) != 1) {
    return Error("dataset " + path + " is not a scalar");
  }
  int64_t value = 0;
  if (H5Dread(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0) {
    return Error("cannot read dataset " + path);
  }
  return value;
}

Status H5File::WriteStringAttribute(const std::string& object_path, const std::string& name,
                                    const std::string& value, bool utf8) {
  Hid object(H5Oopen(id(), object_path.c_str(), H5P_DEFAULT));
  if (!object.valid()) return Error("no object " + object_path);
  Hid type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
  H5Tset_strpad(type.get(), H5T_STR_NULLTERM);
  Hid space(H5Screate(H5S_SCALAR));
  Hid attribute(H5Acreate2(object.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                           H5P_DEFAULT));
  if (!attribute.valid()) return Error("cannot create attribute " + object_path + "@" + name);
  const char* text = value.c_str();
  if (H5Awrite(attribute.get(), type.get(), &text) < 0) {
    return Error("cannot write attribute " + object_path + "@" + name);
  }
  return OkStatus();
}

Status H5File::WriteStringListAttribute(const std::string& object_path, const std::string& name,
                                        const std::vector<std::string>& values) {
  Hid object(H5Oopen(id(), object_path.c_str(), H5P_DEFAULT));
  if (!object.valid()) return Error("no object " + object_path);
  const hsize_t count = values.size();
  if (values.empty()) {  // h5py stores an empty list as an empty float64 array
    Hid space(H5Screate_simple(1, &count, nullptr));
    Hid attribute(H5Acreate2(object.get(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                             H5P_DEFAULT));
    if (!attribute.valid()) return Error("cannot create attribute " + object_path + "@" + name);
    return OkStatus();
  }
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  std::vector<char> buffer(width * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    std::memcpy(buffer.data() + i * width, values[i].data(), values[i].size());
  }
  Hid type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_ASCII);
  Hid space(H5Screate_simple(1, &count, nullptr));
  Hid attribute(H5Acreate2(object.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                           H5P_DEFAULT));
  if (!attribute.valid()) return Error("cannot create attribute " + object_path + "@" + name);
  if (H5Awrite(attribute.get(), type.get(), buffer.data()) < 0) {
    return Error("cannot write attribute " + object_path + "@" + name);
  }
  return OkStatus();
}

Status H5File::CheckObjectAttributes(const std::string& object_path) const {
  if (checked_objects_.count(object_path) > 0) return OkStatus();
  RETURN_IF_ERROR(CheckAttributes(path_, id(), object_path));
  checked_objects_.insert(object_path);
  return OkStatus();
}

StatusOr<bool> H5File::HasAttribute(const std::string& object_path, const std::string& name) const {
  if (!Exists(object_path)) return false;
  RETURN_IF_ERROR(CheckObjectAttributes(object_path));
  return H5Aexists_by_name(id(), object_path.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

StatusOr<std::vector<std::string>> H5File::ReadStrings(hid_t attribute,
                                                       const std::string& what) const {
  Hid type(H5Aget_type(attribute));
  Hid space(H5Aget_space(attribute));
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  std::vector<std::string> out;
  if (count <= 0) return out;  // H5S_NULL or empty
  if (H5Tget_class(type.get()) != H5T_STRING) {
    return InvalidArgumentError("HDF5 file '" + path_ + "': attribute " + what +
                                " is not a string (class " +
                                std::to_string(H5Tget_class(type.get())) + ")");
  }
  if (count > (1 << 24)) return Error("attribute " + what + " is too large");
  // Read with a memory type of the same kind and character set as the file's.
  Hid memory(H5Tcopy(type.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
    if (H5Aread(attribute, memory.get(), pointers.data()) < 0) {
      return Error("cannot read attribute " + what);
    }
    for (char* p : pointers) out.emplace_back(p != nullptr ? p : "");
    H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, pointers.data());
    return out;
  }
  const size_t width = H5Tget_size(type.get());
  std::vector<char> buffer(width * static_cast<size_t>(count) + 1, '\0');
  if (H5Aread(attribute, memory.get(), buffer.data()) < 0) {
    return Error("cannot read attribute " + what);
  }
  const bool space_pad = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
  for (hssize_t i = 0; i < count; ++i) {
    std::string s(buffer.data() + static_cast<size_t>(i) * width, width);
    while (!s.empty() && (s.back() == '\0' || (space_pad && s.back() == ' '))) s.pop_back();
    size_t nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<std::string> H5File::ReadStringAttribute(const std::string& object_path,
                                                  const std::string& name) const {
  const std::string what = object_path + "@" + name;
  ASSIGN_OR_RETURN(bool present, HasAttribute(object_path, name));
  if (!present) return NotFoundError("HDF5 file '" + path_ + "' has no " + what);
  Hid attribute(H5Aopen_by_name(id(), object_path.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute.valid()) return Error("cannot open attribute " + what);
  ASSIGN_OR_RETURN(std::vector<std::string> values, ReadStrings(attribute.get(), what));
  if (values.size() != 1) return Error("attribute " + what + " is not a single string");
  return values[0];
}

StatusOr<std::vector<std::string>> H5File::ReadStringListAttribute(const std::string& object_path,
                                                                   const std::string& name) const {
  auto read_one = [&](const std::string& attr) -> StatusOr<std::vector<std::string>> {
    Hid attribute(
        H5Aopen_by_name(id(), object_path.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT));
    if (!attribute.valid()) return Error("cannot open attribute " + object_path + "@" + attr);
    return ReadStrings(attribute.get(), object_path + "@" + attr);
  };
  ASSIGN_OR_RETURN(bool whole, HasAttribute(object_path, name));
  if (whole) return read_one(name);
  std::vector<std::string> joined;  // chunked: name0, name1, ...
  for (int piece = 0;; ++piece) {
    ASSIGN_OR_RETURN(bool present, HasAttribute(object_path, name + std::to_string(piece)));
    if (!present) return joined;
    ASSIGN_OR_RETURN(std::vector<std::string> part, read_one(name + std::to_string(piece)));
    joined.insert(joined.end(), part.begin(), part.end());
  }
}

}  // namespace shardtrain::storage::keras
