// NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy files,
// one per array, member "KEY.npy" for the array np.load(path)[KEY].
//
// Contract: ReadNpzArray reads the member `key` + ".npy" (stored or
// deflated; libzip checks its CRC-32) and parses it as npy_data.h does, naming
// it "PATH:KEY.npy" in errors. Errors:
//   NotFound         `path` does not exist;
//   InvalidArgument  the archive has no array `key` (the message lists the
//                    arrays it holds), or the array's dtype/order is refused;
//   DataLoss         not a zip archive, a member that does not inflate, a CRC
//                    mismatch, a member over 16 GiB, or a damaged .npy.
#pragma once

#include <string>

#include "common/status.h"
#include "storage/arrays/npy_data.h"

namespace shardtrain::storage {

StatusOr<NpyData> ReadNpzArray(const std::string& path, const std::string& key);

}  // namespace shardtrain::storage
