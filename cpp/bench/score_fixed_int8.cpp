// The fixed scoring run of score_fixed.c on an int8 model, for instruction
// counts of the int8 kernels under valgrind (bench/callgrind.py). An fp32
// model file is quantised here as `ebgan-edge convert --precision int8`
// would (quantize_int8.h), so the run needs no Python; an int8 model file is
// used as it is. The model is then loaded and scored through the C API, as
// in score_fixed.c, so that the counted call is ebgan_score in both.
//
//   ebgan_score_fixed_int8 MODEL KERNEL [ROWS]
//
// Exit status and output as score_fixed.c: 0 scored, 3 the kernel cannot run
// here, 1 any other failure.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ebgan/ebgan.h"
#include "ebgan/model.h"
#include "quantize_int8.h"
#include "records.h"

namespace {

// A static model over the arrays of `data`, which must outlive it.
ebgan_static_model StaticView(const ebgan::ModelData& data, const std::string& feature_names) {
  ebgan_static_model view{};
  view.version = EBGAN_STATIC_MODEL_VERSION;
  view.precision = 2;  // int8
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    const ebgan::LayerData& layer = data.layers[l];
    view.layers[l] = {layer.weight_int8.data(), layer.weight_scale.data(), layer.bias.data()};
  }
  view.minimum = data.minimum.data();
  view.maximum = data.maximum.data();
  view.threshold = data.threshold;
  view.feature_names = feature_names.c_str();
  view.metadata_json = data.metadata_json.c_str();
  return view;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL KERNEL [ROWS]\n", argv[0]);
    return 1;
  }
  const size_t rows = argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 64;
  ebgan::ModelData data;
  const ebgan::Status read = ebgan::ReadModelFile(argv[1], &data);
  if (!read.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[1], read.message().c_str());
    return 1;
  }
  if (data.precision == ebgan::Precision::kFp16) {
    std::fprintf(stderr, "%s: an fp16 model; give the fp32 or an int8 model\n", argv[1]);
    return 1;
  }

  char error[256];
  ebgan_model* model = nullptr;
  int status;
  if (data.precision == ebgan::Precision::kInt8) {
    status = ebgan_load_file(argv[1], argv[2], &model, error, sizeof error);
  } else {
    data = ebgan_bench::QuantizeInt8(data);
    const std::string feature_names = ebgan::FeatureNamesJoined();
    const ebgan_static_model view = StaticView(data, feature_names);
    status = ebgan_load_static(&view, argv[2], &model, error, sizeof error);
  }
  if (status != EBGAN_OK) {
    std::fprintf(stderr, "%s\n", error);
    return status == EBGAN_UNSUPPORTED ? 3 : 1;
  }
  std::vector<float> input(rows * EBGAN_FEATURES), scores(rows);
  ebgan_bench_records(input.data(), rows, 12345u);

  // The only call counted (callgrind --toggle-collect=ebgan_score).
  status = ebgan_score(model, input.data(), rows, scores.data(), error, sizeof error);
  if (status != EBGAN_OK) {
    std::fprintf(stderr, "%s\n", error);
    return 1;
  }
  double checksum = 0.0;
  for (size_t r = 0; r < rows; ++r) checksum += double(scores[r]) * double(r + 1);
  std::printf("kernel %s rows %zu checksum %.9e first %.9e\n", ebgan_kernel(model), rows, checksum,
              rows > 0 ? double(scores[0]) : 0.0);
  ebgan_free(model);
  return 0;
}
