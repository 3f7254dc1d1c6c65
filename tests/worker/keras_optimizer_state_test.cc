// The Keras 3 optimizer variables of a .keras file (storage/keras/keras_files.h)
// with a learning-rate schedule: Keras then has no learning_rate variable
// (iterations, then m/v per trainable weight); written and read back with the
// optimizer's name. A constant rate keeps the learning_rate variable.
#include <gtest/gtest.h>

#include "google/protobuf/text_format.h"
#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {
namespace {

TEST(KerasOptimizerStateTest, ScheduleHasNoLearningRateVariable) {
  config::JobConfig job;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(model { input_shape: [3] layers { dense { units: 2 } } }
         optimizer { adamw { } learning_rate_schedule { exponential_decay {
           initial_learning_rate: 0.1 decay_steps: 10 decay_rate: 0.5 } } })",
      &job));
  auto model = model::Model::Create(job.model(), 2, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto backend = kernels::CreateCpuBackend();
  (*model)->Initialize(*backend, 3);
  auto opt = optimizer::Optimizer::Create(job.optimizer(), (*model)->parameters());
  ASSERT_TRUE(opt.ok()) << opt.status();
  for (size_t s = 0; s < 2; ++s) {
    for (size_t i = 0; i < (*opt)->slot(s).size(); ++i) (*opt)->slot(s)[i] = s * 10.0f + i;
  }
  (*opt)->set_iterations(7);
  auto made = model::ToKerasModelFile(**model, opt->get());
  ASSERT_TRUE(made.ok()) << made.status();
  storage::keras::KerasModelFile file = std::move(*made);
  file.model_config_json =
      model::KerasModelJson(job, **model, model::KerasJsonFlavor::kKeras3, true);
  const std::string dir = ::testing::TempDir();
  for (bool scheduled : {true, false}) {
    SCOPED_TRACE(scheduled);
    file.optimizer.learning_rate_variable = !scheduled;
    file.optimizer.name = scheduled ? "adamw" : "adam";
    const std::string path = dir + (scheduled ? "/scheduled.keras" : "/constant.keras");
    Status written = storage::keras::WriteKerasArchive(path, file);
    ASSERT_TRUE(written.ok()) << written;
    auto back = storage::keras::ReadKerasFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(back->optimizer.present);
    EXPECT_EQ(back->optimizer.learning_rate_variable, !scheduled);
    EXPECT_EQ(back->optimizer.name, file.optimizer.name);
    EXPECT_EQ(back->optimizer.iterations, 7);
    EXPECT_EQ(back->optimizer.m, file.optimizer.m);
    EXPECT_EQ(back->optimizer.v, file.optimizer.v);
    if (!scheduled) {
      EXPECT_EQ(back->optimizer.learning_rate, file.optimizer.learning_rate);
    }
  }
}

}  // namespace
}  // namespace shardtrain
