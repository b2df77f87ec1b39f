// Reader of the model file, format version 1 (docs/model-format.md).
//
// The file is untrusted input: it may be truncated, corrupted or crafted.
// The reader checks the magic, the version, the declared size and the
// checksum first, and then still bounds-checks every section before it reads
// a byte of it, since a crafted file can carry a valid checksum.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ebgan/model.h"

namespace ebgan {
namespace {

constexpr size_t kHeaderBytes = 32;
constexpr size_t kSectionEntryBytes = 24;
constexpr size_t kTrailerBytes = 4;
constexpr uint32_t kMaxSections = 16;

Status Invalid(const std::string& message) {
  return Status(StatusCode::kInvalidModel, "invalid model file: " + message);
}

// Little-endian reads from a byte range that refuse to run past its end.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, std::string where)
      : data_(data), size_(size), where_(std::move(where)) {}

  size_t remaining() const { return size_ - pos_; }

  bool Bytes(void* out, size_t n) {
    if (n > remaining()) {
      failed_ = true;
      return false;
    }
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return true;
  }
  bool U32(uint32_t* v) {
    uint8_t b[4];
    if (!Bytes(b, 4)) return false;
    *v = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
    return true;
  }
  bool U64(uint64_t* v) {
    uint32_t lo, hi;
    if (!U32(&lo) || !U32(&hi)) return false;
    *v = uint64_t(lo) | uint64_t(hi) << 32;
    return true;
  }
  bool F32(float* v) {
    uint32_t bits;
    if (!U32(&bits)) return false;
    std::memcpy(v, &bits, 4);
    return true;
  }
  bool F32s(float* out, size_t n) {
    for (size_t i = 0; i < n; ++i)
      if (!F32(out + i)) return false;
    return true;
  }
  bool String(std::string* out, size_t n) {
    if (n > remaining()) {
      failed_ = true;
      return false;
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }

  // The message for a read that ran past the end, or for bytes left over.
  Status Truncated() const { return Invalid(where_ + " section ends early"); }
  Status CheckConsumed() const {
    if (remaining() == 0) return Status::Ok();
    std::ostringstream m;
    m << where_ << " section has " << remaining() << " unexpected trailing bytes";
    return Invalid(m.str());
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string where_;
  bool failed_ = false;
};

struct Section {
  char tag[5] = {};
  uint64_t offset = 0;
  uint64_t size = 0;
  bool present = false;
};

bool AllFinite(const float* v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

std::string LayerName(int i) {
  return "layer " + std::to_string(i);
}

Status ReadArchitecture(Cursor c) {
  uint32_t count;
  if (!c.U32(&count)) return c.Truncated();
  if (count != kLayerCount) {
    return Status(StatusCode::kUnsupported, "model architecture has " + std::to_string(count) +
                                                " layers; this build runs the fixed " +
                                                std::to_string(kLayerCount) + "-layer autoencoder");
  }
  for (int i = 0; i < kLayerCount; ++i) {
    uint32_t in, out, activation;
    if (!c.U32(&in) || !c.U32(&out) || !c.U32(&activation)) return c.Truncated();
    const int want_in = kLayerWidths[i], want_out = kLayerWidths[i + 1];
    if (in != uint32_t(want_in) || out != uint32_t(want_out)) {
      std::ostringstream m;
      m << "model architecture differs: " << LayerName(i) << " is " << in << "->" << out
        << ", expected " << want_in << "->" << want_out;
      return Status(StatusCode::kUnsupported, m.str());
    }
    if (activation != uint32_t(kLayerActivations[i])) {
      std::ostringstream m;
      m << "model architecture differs: " << LayerName(i) << " has activation code " << activation
        << ", expected " << uint32_t(kLayerActivations[i]);
      return Status(StatusCode::kUnsupported, m.str());
    }
  }
  float slope;
  uint32_t score_kind;
  if (!c.F32(&slope) || !c.U32(&score_kind)) return c.Truncated();
  if (slope != kLeakySlope) {
    std::ostringstream m;
    m << "model uses LeakyReLU slope " << slope << ", this build uses " << kLeakySlope;
    return Status(StatusCode::kUnsupported, m.str());
  }
  if (score_kind != 0) {
    return Status(StatusCode::kUnsupported, "model score kind " + std::to_string(score_kind) +
                                                " is unknown; only 0 (mean squared error) exists");
  }
  return c.CheckConsumed();
}

Status ReadLayer(Cursor& c, Precision precision, int index, LayerData* layer) {
  layer->in = kLayerWidths[index];
  layer->out = kLayerWidths[index + 1];
  layer->activation = kLayerActivations[index];
  const size_t n = size_t(layer->in) * layer->out;

  switch (precision) {
    case Precision::kFp32:
      layer->weight_fp32.resize(n);
      if (!c.F32s(layer->weight_fp32.data(), n)) return c.Truncated();
      break;
    case Precision::kFp16:
      layer->weight_fp16.resize(n);
      for (size_t i = 0; i < n; ++i) {
        uint8_t b[2];
        if (!c.Bytes(b, 2)) return c.Truncated();
        layer->weight_fp16[i] = uint16_t(b[0] | b[1] << 8);
      }
      break;
    case Precision::kInt8:
      layer->weight_int8.resize(n);
      layer->weight_scale.resize(layer->out);
      if (!c.Bytes(layer->weight_int8.data(), n) || !c.F32s(layer->weight_scale.data(), layer->out))
        return c.Truncated();
      break;
  }
  layer->bias.resize(layer->out);
  if (!c.F32s(layer->bias.data(), layer->out)) return c.Truncated();
  if (precision == Precision::kInt8) {
    uint32_t zero_point;
    if (!c.F32(&layer->input_scale) || !c.U32(&zero_point)) return c.Truncated();
    layer->input_zero_point = int32_t(zero_point);
  }
  return Status::Ok();
}

Status ReadLayers(Cursor c, ModelData* model) {
  uint32_t precision;
  if (!c.U32(&precision)) return c.Truncated();
  if (precision > uint32_t(Precision::kInt8)) {
    return Status(StatusCode::kUnsupported, "weight precision code " + std::to_string(precision) +
                                                " is unknown (0 fp32, 1 fp16, 2 int8)");
  }
  model->precision = Precision(precision);
  for (int i = 0; i < kLayerCount; ++i) {
    Status s = ReadLayer(c, model->precision, i, &model->layers[i]);
    if (!s.ok()) return s;
  }
  return c.CheckConsumed();
}

Status ReadNormalization(Cursor c, ModelData* model) {
  uint32_t encoding_version, numeric_count, names_length;
  if (!c.U32(&encoding_version) || !c.U32(&numeric_count)) return c.Truncated();
  if (encoding_version != uint32_t(kEncodingVersion)) {
    return Status(StatusCode::kUnsupported,
                  "model uses feature encoding version " + std::to_string(encoding_version) +
                      ", this build implements version " + std::to_string(kEncodingVersion));
  }
  if (numeric_count != uint32_t(kNumericFeatureCount)) {
    return Invalid("normalisation has " + std::to_string(numeric_count) +
                   " numeric features, expected " + std::to_string(kNumericFeatureCount));
  }
  if (!c.F32s(model->minimum.data(), kNumericFeatureCount) ||
      !c.F32s(model->maximum.data(), kNumericFeatureCount) || !c.U32(&names_length))
    return c.Truncated();
  std::string names;
  if (!c.String(&names, names_length)) return c.Truncated();
  if (names != FeatureNamesJoined()) {
    return Status(StatusCode::kUnsupported,
                  "model was trained on a different feature vocabulary or order "
                  "than this build's encoding");
  }
  return c.CheckConsumed();
}

Status ReadThreshold(Cursor c, ModelData* model) {
  uint32_t length;
  if (!c.F32(&model->threshold) || !c.U32(&length)) return c.Truncated();
  if (!c.String(&model->calibration_json, length)) return c.Truncated();
  return c.CheckConsumed();
}

}  // namespace

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

std::string FeatureNamesJoined() {
  std::string out;
  auto add = [&out](const std::string& name) {
    if (!out.empty()) out += '\n';
    out += name;
  };
  for (int field : kNumericFeatureFields) add(kRawFieldNames[field]);
  for (const char* p : kProtocolTypes) add(std::string("protocol_type=") + p);
  for (const char* s : kServices) add(std::string("service=") + s);
  for (const char* f : kFlags) add(std::string("flag=") + f);
  return out;
}

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

Status ValidateModel(const ModelData& model) {
  for (int l = 0; l < kLayerCount; ++l) {
    const LayerData& layer = model.layers[l];
    const std::string name = LayerName(l);
    const size_t n = size_t(kLayerWidths[l]) * kLayerWidths[l + 1];
    const size_t out = size_t(kLayerWidths[l + 1]);
    if (layer.in != kLayerWidths[l] || layer.out != kLayerWidths[l + 1] ||
        layer.activation != kLayerActivations[l] || layer.bias.size() != out)
      return Invalid(name + " does not have the fixed architecture's shape");
    switch (model.precision) {
      case Precision::kFp32:
        if (layer.weight_fp32.size() != n) return Invalid(name + " has the wrong weight count");
        if (!AllFinite(layer.weight_fp32.data(), n))
          return Invalid(name + " has a non-finite weight");
        break;
      case Precision::kFp16:
        if (layer.weight_fp16.size() != n) return Invalid(name + " has the wrong weight count");
        for (uint16_t h : layer.weight_fp16)
          if ((h & 0x7c00) == 0x7c00) return Invalid(name + " has a non-finite fp16 weight");
        break;
      case Precision::kInt8:
        if (layer.weight_int8.size() != n || layer.weight_scale.size() != out)
          return Invalid(name + " has the wrong weight or scale count");
        for (int8_t w : layer.weight_int8)
          if (w == -128) return Invalid(name + " has int8 weight -128; weights lie in [-127, 127]");
        for (float s : layer.weight_scale)
          if (!(std::isfinite(s) && s > 0.0f))
            return Invalid(name + " has a weight scale that is not a positive finite number");
        if (!(std::isfinite(layer.input_scale) && layer.input_scale >= 0.0f))
          return Invalid(name + " has an input scale that is negative or not finite");
        if (layer.input_zero_point < -128 || layer.input_zero_point > 255)
          return Invalid(name + " has an input zero point outside [-128, 255]");
        break;
    }
    if (!AllFinite(layer.bias.data(), out)) return Invalid(name + " has a non-finite bias");
  }
  for (int i = 0; i < kNumericFeatureCount; ++i) {
    if (!std::isfinite(model.minimum[i]) || !std::isfinite(model.maximum[i]) ||
        model.minimum[i] > model.maximum[i]) {
      return Invalid("normalisation range of feature " + std::to_string(i) +
                     " is not finite or has minimum above maximum");
    }
  }
  if (!std::isfinite(model.threshold)) return Invalid("threshold is not finite");
  return Status::Ok();
}

Status ReadModel(const uint8_t* data, size_t size, ModelData* out) {
  if (size < kHeaderBytes + kTrailerBytes) {
    return Invalid("it is " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kHeaderBytes + kTrailerBytes) + "-byte minimum");
  }
  if (std::memcmp(data, kModelMagic, sizeof(kModelMagic)) != 0)
    return Invalid("wrong magic bytes; this is not an ebgan-edge model file");

  Cursor header(data + 8, kHeaderBytes - 8, "header");
  uint32_t version, section_count, reserved0, reserved1;
  uint64_t declared_size;
  header.U32(&version);
  header.U32(&section_count);
  header.U64(&declared_size);
  header.U32(&reserved0);
  header.U32(&reserved1);
  if (version > kModelFormatVersion) {
    return Status(StatusCode::kUnsupported, "model file format version " + std::to_string(version) +
                                                " is newer than the version this build reads (" +
                                                std::to_string(kModelFormatVersion) +
                                                "); upgrade ebgan-edge");
  }
  if (version != kModelFormatVersion)
    return Invalid("format version " + std::to_string(version) + " does not exist");
  if (declared_size > kMaxModelFileBytes) {
    return Invalid("header declares " + std::to_string(declared_size) +
                   " bytes, above the limit of " + std::to_string(kMaxModelFileBytes));
  }
  if (declared_size != size) {
    return Invalid("header declares " + std::to_string(declared_size) + " bytes but " +
                   std::to_string(size) + " were given (truncated or padded file)");
  }
  uint32_t stored_crc = uint32_t(data[size - 4]) | uint32_t(data[size - 3]) << 8 |
                        uint32_t(data[size - 2]) << 16 | uint32_t(data[size - 1]) << 24;
  if (Crc32(data, size - kTrailerBytes) != stored_crc)
    return Invalid("checksum mismatch; the file is corrupted");
  if (reserved0 != 0 || reserved1 != 0) return Invalid("reserved header fields are not zero");
  if (section_count == 0 || section_count > kMaxSections) {
    return Invalid("section count " + std::to_string(section_count) + " is outside 1.." +
                   std::to_string(kMaxSections));
  }

  const uint64_t table_end = kHeaderBytes + uint64_t(section_count) * kSectionEntryBytes;
  const uint64_t body_end = size - kTrailerBytes;
  if (table_end > body_end) return Invalid("section table runs past the end of the file");

  static constexpr const char* kTags[] = {"ARCH", "LAYR", "NORM", "THRS", "META"};
  Section sections[5];
  Cursor table(data + kHeaderBytes, table_end - kHeaderBytes, "section table");
  for (uint32_t i = 0; i < section_count; ++i) {
    Section s;
    uint32_t reserved;
    table.Bytes(s.tag, 4);
    table.U32(&reserved);
    table.U64(&s.offset);
    table.U64(&s.size);
    int kind = -1;
    for (int k = 0; k < 5; ++k)
      if (std::memcmp(s.tag, kTags[k], 4) == 0) kind = k;
    std::string tag_text;
    for (int k = 0; k < 4; ++k) tag_text += (s.tag[k] >= 32 && s.tag[k] < 127) ? s.tag[k] : '?';
    if (kind < 0) return Invalid("unknown section '" + tag_text + "'");
    if (sections[kind].present) return Invalid("section " + tag_text + " appears twice");
    if (s.offset < table_end || s.offset > body_end || s.size > body_end - s.offset) {
      return Invalid("section " + tag_text + " lies outside the file body (offset " +
                     std::to_string(s.offset) + ", size " + std::to_string(s.size) + ")");
    }
    s.present = true;
    sections[kind] = s;
  }
  for (int k = 0; k < 4; ++k)
    if (!sections[k].present) return Invalid(std::string("section ") + kTags[k] + " is missing");

  auto cursor = [&](int k) {
    return Cursor(data + sections[k].offset, sections[k].size, kTags[k]);
  };
  Status s = ReadArchitecture(cursor(0));
  if (s.ok()) s = ReadLayers(cursor(1), out);
  if (s.ok()) s = ReadNormalization(cursor(2), out);
  if (s.ok()) s = ReadThreshold(cursor(3), out);
  if (!s.ok()) return s;
  out->metadata_json.clear();
  if (sections[4].present) {
    Cursor meta = cursor(4);
    meta.String(&out->metadata_json, sections[4].size);
  }
  return ValidateModel(*out);
}

Status ReadModelFile(const std::string& path, ModelData* out) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    return Status(StatusCode::kIoError, "cannot read model file '" + path + "': it is a directory");
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return Status(StatusCode::kIoError, "cannot open model file '" + path + "'");
  const std::streamoff length = file.tellg();
  if (length < 0) return Status(StatusCode::kIoError, "cannot read model file '" + path + "'");
  if (uint64_t(length) > kMaxModelFileBytes) {
    return Invalid("'" + path + "' is " + std::to_string(length) + " bytes, above the limit of " +
                   std::to_string(kMaxModelFileBytes));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(length));
  file.seekg(0);
  if (!file.read(reinterpret_cast<char*>(bytes.data()), length))
    return Status(StatusCode::kIoError, "cannot read model file '" + path + "'");
  Status s = ReadModel(bytes.data(), bytes.size(), out);
  if (!s.ok()) return Status(s.code(), "'" + path + "': " + s.message());
  return s;
}

}  // namespace ebgan
