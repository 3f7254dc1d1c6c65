// Checks an object's attributes from the file's own bytes before libhdf5
// decodes them. libhdf5 1.10 trusts what it reads there: an attribute message
// whose datatype size runs past the message, a dataspace larger than the data
// stored, a string base type of 2 GiB, or a global heap collection ("GCOL")
// whose objects overrun it or have size 0 make H5Aexists/H5Aread crash
// (H5HG_read), allocate gigabytes or loop forever. The check walks the
// object header (version 1 or 2, continuation chunks followed) and accepts
// it only when every attribute message decodes within its bounds (name,
// datatype, dataspace, data) and every variable-length string points at an
// object of its declared length in a collection whose objects tile it
// exactly. Anything else is DataLoss naming the file, the object and the
// attribute. Not checked, so refused: attributes in dense storage or with
// shared or compound datatypes (h5py's default file format, which Keras
// uses, has none of them). Internal to storage/keras (H5File calls it before
// touching an object's attributes).
#pragma once

#include <hdf5.h>

#include <string>

#include "common/status.h"

namespace shardtrain::storage::keras {

// `file` is the open HDF5 file at `path`; `object_path` names a group or
// dataset in it ("/" for the root group).
Status CheckAttributes(const std::string& path, hid_t file, const std::string& object_path);

}  // namespace shardtrain::storage::keras
