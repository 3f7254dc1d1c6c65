// TensorBoard event files: the constants of the format we write
// (shared/spec/tfrecord-events-idx.md §3; docs/FORMATS.md "TensorBoard event
// files"). Header only, no logic.
//
// File: <log_dir>/events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<n>.v2
// where <n> counts the files this process opened (0, 1, ...). The file is a
// TFRecord stream (storage/tfrecord/tfrecord_format.h) of serialized Event
// protos (proto/tf/event.proto):
//
//   record 0   Event { wall_time (1, double) = open time,
//                      file_version (3, string) = "brain.Event:2" }
//   record k   Event { wall_time (1), step (2, int64),
//                      summary (5) { value (1) {
//                        tag (1, string),
//                        tensor (8) { dtype (1) = DT_FLOAT (1),
//                                     tensor_shape (2) = {} (scalar),
//                                     float_val (5, packed) = [value] },
//                        metadata (9) { plugin_data (1) {
//                                         plugin_name (1) = "scalars" } } } } }
//
// One scalar per Event (as tf.summary.scalar writes them). Records are only
// ever appended; the file is flushed to the OS after each write so TensorBoard
// sees it grow.
#pragma once

#include <string_view>

namespace shardtrain::storage::events {

inline constexpr std::string_view kFileVersion = "brain.Event:2";
inline constexpr std::string_view kFileNamePrefix = "events.out.tfevents.";
inline constexpr std::string_view kFileNameSuffix = ".v2";
inline constexpr std::string_view kScalarsPluginName = "scalars";

// Field numbers (for readers that decode the wire format by hand).
inline constexpr int kEventWallTimeField = 1;     // double
inline constexpr int kEventStepField = 2;         // int64
inline constexpr int kEventFileVersionField = 3;  // string
inline constexpr int kEventSummaryField = 5;      // Summary
inline constexpr int kSummaryValueField = 1;      // repeated Summary.Value
inline constexpr int kValueTagField = 1;          // string
inline constexpr int kValueSimpleValueField = 2;  // float
inline constexpr int kValueTensorField = 8;       // TensorProto
inline constexpr int kValueMetadataField = 9;     // SummaryMetadata
inline constexpr int kTensorDtypeField = 1;       // DataType (DT_FLOAT = 1)
inline constexpr int kTensorShapeField = 2;       // TensorShapeProto
inline constexpr int kTensorFloatValField = 5;    // repeated float, packed
inline constexpr int kMetadataPluginDataField = 1;
inline constexpr int kPluginNameField = 1;

}  // namespace shardtrain::storage::events
