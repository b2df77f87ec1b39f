// The C API over ebgan::Engine. No exception crosses this boundary.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "ebgan/ebgan.h"
#include "ebgan/engine.h"

struct ebgan_model {
  std::unique_ptr<ebgan::Engine> engine;
};

namespace {

int Report(const ebgan::Status& s, char* error, size_t error_size) {
  if (error && error_size > 0) {
    const std::string& m = s.message();
    const size_t n = std::min(m.size(), error_size - 1);
    std::memcpy(error, m.data(), n);
    error[n] = '\0';
  }
  return int(s.code());
}

int Finish(const ebgan::ModelData& data, const char* kernel, ebgan_model** out, char* error,
           size_t error_size) {
  auto* model = new (std::nothrow) ebgan_model();
  if (!model)
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  ebgan::Status s = ebgan::Engine::Create(data, kernel ? kernel : "", &model->engine);
  if (!s.ok()) {
    delete model;
    return Report(s, error, error_size);
  }
  *out = model;
  return EBGAN_OK;
}

// A NaN score would read as "normal" (NaN > threshold is false); finite
// inputs can still overflow float32 inside the network.
int RefuseNan(const float* scores, size_t rows, char* error, size_t error_size) {
  for (size_t r = 0; r < rows; ++r)
    if (std::isnan(scores[r]))
      return Report({ebgan::StatusCode::kInvalidArgument,
                     "the score of row " + std::to_string(r) +
                         " is NaN: the input or the model overflows float32"},
                    error, error_size);
  return EBGAN_OK;
}

}  // namespace

extern "C" {

int ebgan_load_file(const char* path, const char* kernel, ebgan_model** out, char* error,
                    size_t error_size) {
  if (!path || !out)
    return Report({ebgan::StatusCode::kInvalidArgument, "path and out must not be null"}, error,
                  error_size);
  *out = nullptr;
  try {
    ebgan::ModelData data;
    ebgan::Status s = ebgan::ReadModelFile(path, &data);
    if (!s.ok()) return Report(s, error, error_size);
    return Finish(data, kernel, out, error, error_size);
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

int ebgan_load_buffer(const void* data, size_t size, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size) {
  if (!data || !out)
    return Report({ebgan::StatusCode::kInvalidArgument, "data and out must not be null"}, error,
                  error_size);
  *out = nullptr;
  try {
    ebgan::ModelData model;
    ebgan::Status s = ebgan::ReadModel(static_cast<const uint8_t*>(data), size, &model);
    if (!s.ok()) return Report(s, error, error_size);
    return Finish(model, kernel, out, error, error_size);
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

int ebgan_load_static(const ebgan_static_model* model, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size) {
  if (!model || !out)
    return Report({ebgan::StatusCode::kInvalidArgument, "model and out must not be null"}, error,
                  error_size);
  *out = nullptr;
  auto invalid = [&](const std::string& m) {
    return Report({ebgan::StatusCode::kInvalidModel, "invalid static model: " + m}, error,
                  error_size);
  };
  if (model->version != EBGAN_STATIC_MODEL_VERSION)
    return invalid("version " + std::to_string(model->version) + ", this build reads " +
                   std::to_string(EBGAN_STATIC_MODEL_VERSION));
  if (model->precision < 0 || model->precision > 2)
    return invalid("precision code " + std::to_string(model->precision));
  if (!model->minimum || !model->maximum || !model->feature_names)
    return invalid("normalisation or feature names missing");
  if (ebgan::FeatureNamesJoined() != model->feature_names)
    return invalid("trained on a different feature vocabulary or order than this build's");
  try {
    ebgan::ModelData data;
    data.precision = ebgan::Precision(model->precision);
    for (int l = 0; l < ebgan::kLayerCount; ++l) {
      const ebgan_static_layer& src = model->layers[l];
      ebgan::LayerData& layer = data.layers[l];
      layer.in = ebgan::kLayerWidths[l];
      layer.out = ebgan::kLayerWidths[l + 1];
      layer.activation = ebgan::kLayerActivations[l];
      const size_t n = size_t(layer.in) * layer.out;
      if (!src.weight || !src.bias ||
          (data.precision == ebgan::Precision::kInt8 && !src.weight_scale))
        return invalid("layer " + std::to_string(l) + " has a null array");
      switch (data.precision) {
        case ebgan::Precision::kFp32: {
          const auto* w = static_cast<const float*>(src.weight);
          layer.weight_fp32.assign(w, w + n);
          break;
        }
        case ebgan::Precision::kFp16: {
          const auto* w = static_cast<const uint16_t*>(src.weight);
          layer.weight_fp16.assign(w, w + n);
          break;
        }
        case ebgan::Precision::kInt8: {
          const auto* w = static_cast<const int8_t*>(src.weight);
          layer.weight_int8.assign(w, w + n);
          layer.weight_scale.assign(src.weight_scale, src.weight_scale + layer.out);
          break;
        }
      }
      layer.bias.assign(src.bias, src.bias + layer.out);
    }
    std::copy(model->minimum, model->minimum + ebgan::kNumericFeatureCount, data.minimum.begin());
    std::copy(model->maximum, model->maximum + ebgan::kNumericFeatureCount, data.maximum.begin());
    data.threshold = model->threshold;
    data.metadata_json = model->metadata_json ? model->metadata_json : "";
    ebgan::Status s = ebgan::ValidateModel(data);
    if (!s.ok()) return Report(s, error, error_size);
    return Finish(data, kernel, out, error, error_size);
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

int ebgan_score(const ebgan_model* model, const float* input, size_t rows, float* scores,
                char* error, size_t error_size) {
  if (!model || (rows > 0 && (!input || !scores)))
    return Report({ebgan::StatusCode::kInvalidArgument, "model, input and scores must not be null"},
                  error, error_size);
  size_t row, column;
  if (ebgan::FindNonFinite(input, rows, &row, &column)) {
    return Report({ebgan::StatusCode::kInvalidArgument, "input has a non-finite value at row " +
                                                            std::to_string(row) + ", column " +
                                                            std::to_string(column)},
                  error, error_size);
  }
  model->engine->Score(input, rows, scores, nullptr);
  return RefuseNan(scores, rows, error, error_size);
}

int ebgan_score_csv(const ebgan_model* model, const char* text, size_t length, float* scores,
                    size_t capacity, ebgan_record_stats* stats, char* error, size_t error_size) {
  if (!model || (length > 0 && !text) || (capacity > 0 && !scores))
    return Report({ebgan::StatusCode::kInvalidArgument, "model, text and scores must not be null"},
                  error, error_size);
  ebgan_record_stats local{};
  try {
    std::vector<float> out;
    std::vector<uint64_t> lines;
    ebgan::EncodeStats encode_stats;
    ebgan::RecordIssue issue;
    ebgan::Status s = model->engine->ScoreText(std::string_view(text ? text : "", length), 1, &out,
                                               &lines, &encode_stats, &issue);
    if (!s.ok()) {
      local.error_line = size_t(issue.line);
      std::string where = "line " + std::to_string(issue.line);
      if (issue.field >= 0) {
        where += ", field '";
        where += issue.field < ebgan::kRawFieldCount ? ebgan::kRawFieldNames[issue.field]
                 : issue.field == 41                 ? "label"
                                                     : "difficulty";
        where += "'";
      }
      if (stats) *stats = local;
      return Report({s.code(), where + ": " + issue.problem}, error, error_size);
    }
    if (out.size() > capacity) {
      if (stats) *stats = local;
      return Report({ebgan::StatusCode::kInvalidArgument,
                     "text holds " + std::to_string(out.size()) + " records, scores has room for " +
                         std::to_string(capacity)},
                    error, error_size);
    }
    std::copy(out.begin(), out.end(), scores);
    local.records = out.size();
    if (RefuseNan(scores, out.size(), error, error_size) != EBGAN_OK) {
      if (stats) *stats = local;
      return EBGAN_INVALID_ARGUMENT;
    }
    for (uint64_t c : encode_stats.clipped) local.clipped_values += size_t(c);
    for (uint64_t u : encode_stats.unknown) local.unknown_categories += size_t(u);
    if (stats) *stats = local;
    return EBGAN_OK;
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

float ebgan_threshold(const ebgan_model* model) {
  return model ? model->engine->model().threshold : 0.0f;
}

const char* ebgan_kernel(const ebgan_model* model) {
  return model ? ebgan::IsaName(model->engine->isa()) : "";
}

void ebgan_free(ebgan_model* model) {
  delete model;
}

}  // extern "C"
