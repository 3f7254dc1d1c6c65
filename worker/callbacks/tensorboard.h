// TensorBoardLogger: TensorBoard event files as Keras's TensorBoard callback
// writes them, under RUN_DIR/logs/train/ and RUN_DIR/logs/validation/ (file
// format: storage/events/events_format.h; docs/FORMATS.md).
//
//   train/       epoch_NAME for each training log      at step = epoch - 1 (0-based, as Keras)
//                (epoch_loss, epoch_accuracy, ...) and
//                epoch_learning_rate (EpochEnd::learning_rate, when the
//                trainer reports it; Keras's _collect_learning_rate)
//                batch_NAME for each batch log, examples_per_second and, when
//                the trainer reports it, learning_rate every `log_every_steps`
//                                                      global steps, at that step
//   validation/  epoch_NAME for each val_NAME log (epoch_loss = val_loss, ...),
//                step = epoch - 1
//
// The logs are the trainer's (EpochEnd/BatchEnd::logs: loss and the job's
// metrics). batch_* values are the running values over the epoch so far (what
// the progress bar shows), examples_per_second is the global rate over the
// epoch so far.
// Every record is flushed when written, so TensorBoard shows live curves. Used
// by rank 0 only. A resumed run starts new files; TensorBoard merges them.
// Training thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/events/event_file_writer.h"
#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

class TensorBoardLogger : public Callback {
 public:
  // Creates RUN_DIR/logs/{train,validation}/ and an event file in each.
  // `log_every_steps` > 0 enables the per-batch scalars; 0 logs epochs only.
  // InvalidArgument for a negative `log_every_steps`; the writer's error
  // (naming the directory or file) when one cannot be created.
  static StatusOr<std::unique_ptr<TensorBoardLogger>> Open(const std::string& run_dir,
                                                           int64_t log_every_steps);

  Status OnBatchEnd(const BatchEnd& batch) override;
  Status OnEpochEnd(const EpochEnd& epoch) override;
  // Closes (fsyncs) both files.
  Status OnTrainEnd() override;

  const std::string& train_path() const { return train_->path(); }
  const std::string& validation_path() const { return validation_->path(); }

 private:
  TensorBoardLogger(std::unique_ptr<storage::events::EventFileWriter> train,
                    std::unique_ptr<storage::events::EventFileWriter> validation,
                    int64_t log_every_steps)
      : train_(std::move(train)),
        validation_(std::move(validation)),
        log_every_steps_(log_every_steps) {}

  std::unique_ptr<storage::events::EventFileWriter> train_;
  std::unique_ptr<storage::events::EventFileWriter> validation_;
  int64_t log_every_steps_;
};

}  // namespace shardtrain::callbacks
