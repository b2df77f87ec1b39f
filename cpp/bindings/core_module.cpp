// ebgan_edge._core: the pybind11 bindings, and nothing else. The public API
// is the Python package; this module turns C++ Status values into Python
// exceptions and numpy arrays into pointers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "ebgan/engine.h"
#include "ebgan/model.h"
#include "ebgan/records.h"
#include "ebgan/schema.h"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Raised for a damaged or unusable model file; a ValueError, so callers that
// treat bad input generically still catch it.
PyObject* g_model_error = nullptr;

[[noreturn]] void Raise(const ebgan::Status& s) {
  switch (s.code()) {
    case ebgan::StatusCode::kInvalidModel:
    case ebgan::StatusCode::kUnsupported:
      PyErr_SetString(g_model_error, s.message().c_str());
      throw py::error_already_set();
    case ebgan::StatusCode::kIoError:
      PyErr_SetString(PyExc_OSError, s.message().c_str());
      throw py::error_already_set();
    default:
      throw py::value_error(s.message());
  }
}

ebgan::ModelData ReadAny(const py::object& source) {
  ebgan::ModelData model;
  ebgan::Status s;
  if (py::isinstance<py::bytes>(source) || py::isinstance<py::bytearray>(source) ||
      py::isinstance<py::memoryview>(source)) {
    py::buffer_info info = py::buffer(source).request();
    if (info.itemsize != 1 || info.ndim != 1 || info.strides[0] != 1)
      throw py::value_error("model bytes must be a flat, contiguous byte buffer");
    const auto* data = static_cast<const uint8_t*>(info.ptr);
    py::gil_scoped_release release;
    s = ebgan::ReadModel(data, size_t(info.size), &model);
  } else {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(source));
    py::gil_scoped_release release;
    s = ebgan::ReadModelFile(path, &model);
  }
  if (!s.ok()) Raise(s);
  return model;
}

template <typename T>
py::array_t<T> Matrix(const std::vector<T>& v, int rows, int cols) {
  py::array_t<T> a({rows, cols});
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

template <typename T, typename Container>
py::array_t<T> Vector(const Container& v) {
  py::array_t<T> a(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

py::dict ModelToDict(const ebgan::ModelData& m) {
  py::list layers;
  for (const auto& layer : m.layers) {
    py::dict d;
    d["in_features"] = layer.in;
    d["out_features"] = layer.out;
    d["leaky_relu"] = layer.activation == ebgan::Activation::kLeakyRelu;
    switch (m.precision) {
      case ebgan::Precision::kFp32:
        d["weight"] = Matrix(layer.weight_fp32, layer.out, layer.in);
        break;
      case ebgan::Precision::kFp16:
        d["weight"] = Matrix(layer.weight_fp16, layer.out, layer.in).view("float16");
        break;
      case ebgan::Precision::kInt8:
        d["weight"] = Matrix(layer.weight_int8, layer.out, layer.in);
        d["weight_scale"] = Vector<float>(layer.weight_scale);
        d["input_scale"] = layer.input_scale;
        d["input_zero_point"] = layer.input_zero_point;
        break;
    }
    d["bias"] = Vector<float>(layer.bias);
    layers.append(d);
  }
  py::dict out;
  out["precision"] = ebgan::PrecisionName(m.precision);
  out["layers"] = layers;
  out["minimum"] = Vector<float>(m.minimum);
  out["maximum"] = Vector<float>(m.maximum);
  out["threshold"] = m.threshold;
  out["calibration_json"] = py::bytes(m.calibration_json);
  out["metadata_json"] = py::bytes(m.metadata_json);
  return out;
}

// The one place that turns a caller's batch into a (n, 121) float32 matrix,
// shared by ebgan_edge.Scorer and the torch reference. A C-contiguous float32
// array passes through without a copy.
FloatArray AsBatch(const py::object& batch) {
  py::array array;
  if (py::isinstance<py::array>(batch)) {
    array = py::reinterpret_borrow<py::array>(batch);
  } else {
    try {
      array = py::module_::import("numpy").attr("asarray")(batch);
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_ValueError) && !e.matches(PyExc_TypeError)) throw;
      throw py::value_error("batch is not a rectangular array of numbers (" +
                            std::string(py::str(e.value())) + ")");
    }
  }
  const char kind = array.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw py::type_error("batch has dtype " + std::string(py::str(array.dtype())) +
                         "; expected real numbers convertible to float32");
  }
  if (array.ndim() == 1) {
    if (array.shape(0) != ebgan::kFeatureCount) {
      throw py::value_error("a single row must have " + std::to_string(ebgan::kFeatureCount) +
                            " features, got " + std::to_string(array.shape(0)));
    }
    array = array.attr("reshape")(1, ebgan::kFeatureCount);
  }
  if (array.ndim() != 2 || array.shape(1) != ebgan::kFeatureCount) {
    std::ostringstream m;
    m << "batch must have shape (n, " << ebgan::kFeatureCount << "), got (";
    for (py::ssize_t i = 0; i < array.ndim(); ++i) m << (i ? ", " : "") << array.shape(i);
    m << (array.ndim() == 1 ? ",)" : ")");
    throw py::value_error(m.str());
  }
  FloatArray out = FloatArray::ensure(array);
  if (!out) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw py::type_error("batch cannot be converted to float32");
  }

  size_t row, column;
  bool bad;
  {
    py::gil_scoped_release release;
    bad = ebgan::FindNonFinite(out.data(), size_t(out.shape(0)), &row, &column);
  }
  if (bad) {
    const float v = out.data()[row * ebgan::kFeatureCount + column];
    std::ostringstream m;
    m << "batch has a non-finite value ("
      << (std::isnan(v) ? "nan"
          : v > 0       ? "inf"
                        : "-inf")
      << ") at row " << row << ", column " << column;
    throw py::value_error(m.str());
  }
  return out;
}

std::string_view TextOf(const py::object& text, std::string* storage) {
  if (py::isinstance<py::str>(text)) {
    // surrogateescape: text decoded from arbitrary bytes turns back into
    // those bytes, which the parser then judges (and names) itself.
    *storage = py::bytes(text.attr("encode")("utf-8", "surrogateescape")).cast<std::string>();
    return *storage;
  }
  if (py::isinstance<py::bytes>(text)) {
    *storage = text.cast<std::string>();
    return *storage;
  }
  throw py::type_error("records text must be str or bytes");
}

py::object IssueTuple(const ebgan::RecordIssue& issue) {
  return py::make_tuple(issue.line, issue.field, issue.problem);
}

// Parses CSV records; returns (fields dict, issue) where issue is None or
// (line, field index, problem) for the first bad record. With `skip`, bad
// records are left out and listed as such tuples in the dict's "skipped".
py::tuple ParseRecordsText(const py::object& text, uint64_t first_line, bool skip) {
  std::string storage;
  const std::string_view view = TextOf(text, &storage);
  ebgan::ParsedRecords parsed;
  ebgan::RecordIssue issue;
  std::vector<ebgan::RecordIssue> skipped;
  ebgan::Status s;
  {
    py::gil_scoped_release release;
    s = ebgan::ParseRecords(view, first_line, &parsed, &issue, skip ? &skipped : nullptr);
  }
  const auto n = py::ssize_t(parsed.rows);
  py::array_t<double> numeric({n, py::ssize_t(ebgan::kNumericFeatureCount)});
  std::copy_n(parsed.numeric.data(), parsed.rows * ebgan::kNumericFeatureCount,
              numeric.mutable_data());
  py::array_t<int16_t> category({n, py::ssize_t(ebgan::kCategoricalCount)});
  std::copy_n(parsed.category.data(), parsed.rows * ebgan::kCategoricalCount,
              category.mutable_data());
  py::list unknown;
  for (size_t i = 0; i < parsed.rows * ebgan::kCategoricalCount; ++i)
    if (parsed.category[i] < 0)
      unknown.append(py::make_tuple(i / ebgan::kCategoricalCount, i % ebgan::kCategoricalCount,
                                    parsed.unknown_values[i]));
  py::dict d;
  d["fields"] = parsed.fields;
  d["numeric"] = numeric;
  d["category"] = category;
  d["unknown"] = unknown;
  d["labels"] = parsed.fields >= 42 ? py::object(py::cast(parsed.labels)) : py::none();
  d["difficulty"] =
      parsed.fields == 43 ? py::object(Vector<int32_t>(parsed.difficulty)) : py::none();
  d["lines"] = Vector<uint64_t>(parsed.lines);
  py::list skipped_list;
  for (const ebgan::RecordIssue& i : skipped) skipped_list.append(IssueTuple(i));
  d["skipped"] = skipped_list;
  return py::make_tuple(d, s.ok() ? py::none() : IssueTuple(issue));
}

// Encodes parsed records; returns (features, clipped per numeric feature,
// unknown per categorical field).
using NumericArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using CategoryArray = py::array_t<int16_t, py::array::c_style | py::array::forcecast>;

// Checks parsed records (Records.numeric and Records.category) before C++
// reads them; returns the number of rows.
py::ssize_t CheckParsed(const char* what, const NumericArray& numeric,
                        const CategoryArray& category) {
  const py::ssize_t n = numeric.ndim() == 2 ? numeric.shape(0) : -1;
  if (n < 0 || numeric.shape(1) != ebgan::kNumericFeatureCount || category.ndim() != 2 ||
      category.shape(0) != n || category.shape(1) != ebgan::kCategoricalCount)
    throw py::value_error(std::string(what) +
                          ": numeric and category arrays of shapes (n, 37) and (n, 3) expected");
  for (py::ssize_t i = 0; i < category.size(); ++i) {
    const int16_t c = category.data()[i];
    const int limit = (i % 3 == 0)   ? ebgan::kProtocolTypeCount
                      : (i % 3 == 1) ? ebgan::kServiceCount
                                     : ebgan::kFlagCount;
    if (c < -1 || c >= limit)
      throw py::value_error(std::string(what) + ": category index out of range");
  }
  return n;
}

py::tuple EncodeParsed(const NumericArray& numeric, const CategoryArray& category,
                       const FloatArray& minimum, const FloatArray& maximum) {
  const py::ssize_t n = CheckParsed("encode", numeric, category);
  if (minimum.size() != ebgan::kNumericFeatureCount ||
      maximum.size() != ebgan::kNumericFeatureCount)
    throw py::value_error("encode: minimum and maximum of shape (37,) expected");
  py::array_t<float> out({n, py::ssize_t(ebgan::kFeatureCount)});
  ebgan::EncodeStats stats;
  {
    py::gil_scoped_release release;
    ebgan::EncodeRecords(numeric.data(), category.data(), size_t(n), minimum.data(), maximum.data(),
                         out.mutable_data(), &stats);
  }
  return py::make_tuple(out, Vector<uint64_t>(stats.clipped), Vector<uint64_t>(stats.unknown));
}

// A NaN score would read as "normal" (NaN > threshold is false). Finite
// inputs can still overflow float32 inside the network (values near 3e38,
// or a model with absurd weights): say so rather than answer.
void RefuseNan(const float* scores, size_t rows) {
  for (size_t r = 0; r < rows; ++r)
    if (std::isnan(scores[r]))
      throw py::value_error("the score of row " + std::to_string(r) +
                            " is NaN: the batch or the model overflows float32 "
                            "(encoded records lie in [0, 1])");
}

class PyEngine {
 public:
  PyEngine(const py::object& source, const std::string& kernel, int threads) : threads_(threads) {
    if (threads < 1)
      throw py::value_error("threads must be at least 1, got " + std::to_string(threads));
    ebgan::ModelData model = ReadAny(source);
    ebgan::Status s = ebgan::Engine::Create(model, kernel == "auto" ? "" : kernel, &engine_);
    if (!s.ok()) Raise(s);
  }

  py::array_t<float> Score(const py::object& batch) const {
    FloatArray x = AsBatch(batch);
    const size_t rows = size_t(x.shape(0));
    py::array_t<float> scores(static_cast<py::ssize_t>(rows));
    float* out = scores.mutable_data();
    {
      py::gil_scoped_release release;
      engine_->Score(x.data(), rows, out, nullptr, threads_);
    }
    RefuseNan(out, rows);
    return scores;
  }

  py::array_t<float> Reconstruct(const py::object& batch) const {
    FloatArray x = AsBatch(batch);
    const size_t rows = size_t(x.shape(0));
    py::array_t<float> scores(static_cast<py::ssize_t>(rows));
    py::array_t<float> recon({py::ssize_t(rows), py::ssize_t(ebgan::kFeatureCount)});
    float* s_out = scores.mutable_data();
    float* r_out = recon.mutable_data();
    {
      py::gil_scoped_release release;
      engine_->Score(x.data(), rows, s_out, r_out, threads_);
    }
    return recon;
  }

  // Encodes parsed records with the model's normalisation into the form
  // the record kernels read and scores them; returns the scores and the
  // encoder's counts of clipped values and unknown categories.
  py::tuple ScoreRecords(const NumericArray& numeric, const CategoryArray& category) const {
    const size_t rows = size_t(CheckParsed("score_records", numeric, category));
    py::array_t<float> scores(static_cast<py::ssize_t>(rows));
    float* out = scores.mutable_data();
    ebgan::EncodeStats stats;
    {
      py::gil_scoped_release release;
      std::vector<float> encoded(rows * ebgan::kRecordStride);
      std::vector<int16_t> hot(rows * ebgan::kCategoricalCount);
      const ebgan::ModelData& model = engine_->model();
      ebgan::EncodeRecordRows(numeric.data(), category.data(), rows, model.minimum.data(),
                              model.maximum.data(), encoded.data(), hot.data(), &stats);
      engine_->ScoreRecords(ebgan::RecordRows{encoded.data(), hot.data()}, rows, out, nullptr,
                            threads_);
    }
    RefuseNan(out, rows);
    return py::make_tuple(scores, Vector<uint64_t>(stats.clipped), Vector<uint64_t>(stats.unknown));
  }

  std::string Kernel() const { return ebgan::IsaName(engine_->isa()); }
  bool NativeFp16() const { return engine_->native_fp16(); }
  size_t WeightBytes() const { return engine_->weight_bytes(); }
  int Threads() const { return threads_; }
  py::dict Model() const { return ModelToDict(engine_->model()); }

 private:
  std::unique_ptr<ebgan::Engine> engine_;
  int threads_;
};

py::dict Schema() {
  auto names = [](const auto& array) {
    py::list out;
    for (const char* s : array) out.append(s);
    return out;
  };
  py::dict d;
  d["encoding_version"] = ebgan::kEncodingVersion;
  d["raw_field_names"] = names(ebgan::kRawFieldNames);
  d["numeric_feature_fields"] = py::cast(std::vector<int>(std::begin(ebgan::kNumericFeatureFields),
                                                          std::end(ebgan::kNumericFeatureFields)));
  d["protocol_types"] = names(ebgan::kProtocolTypes);
  d["services"] = names(ebgan::kServices);
  d["flags"] = names(ebgan::kFlags);
  d["dropped_field"] = ebgan::kDroppedField;
  d["feature_names"] = ebgan::FeatureNamesJoined();
  d["layer_widths"] =
      py::cast(std::vector<int>(ebgan::kLayerWidths.begin(), ebgan::kLayerWidths.end()));
  d["leaky_slope"] = ebgan::kLeakySlope;
  d["format_version"] = ebgan::kModelFormatVersion;
  d["magic"] = py::bytes(ebgan::kModelMagic, sizeof(ebgan::kModelMagic));
  d["max_model_bytes"] = ebgan::kMaxModelFileBytes;
  d["fp32_relative_bound"] = ebgan::kFp32RelativeBound;
  d["fp32_sqrt_bound"] = ebgan::kFp32SqrtBound;
  return d;
}

ebgan::Precision ParsePrecision(const std::string& name) {
  for (auto p : {ebgan::Precision::kFp32, ebgan::Precision::kFp16, ebgan::Precision::kInt8})
    if (name == ebgan::PrecisionName(p)) return p;
  throw py::value_error("precision must be fp32, fp16 or int8, got '" + name + "'");
}

// Kernels built into this library, or those this CPU can also run, that
// have an implementation for `precision`.
std::vector<std::string> KernelNames(bool usable_only, const std::string& precision) {
  const ebgan::Precision p = ParsePrecision(precision);
  std::vector<std::string> out;
  for (int i = 0; i < ebgan::kIsaCount; ++i) {
    const auto isa = ebgan::Isa(i);
    if (!ebgan::HasKernel(p, isa)) continue;
    if (usable_only ? ebgan::IsaUsable(isa) : ebgan::IsaBuilt(isa))
      out.push_back(ebgan::IsaName(isa));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled core of ebgan_edge: model file reader and scoring kernels.";

  g_model_error = PyErr_NewExceptionWithDoc(
      "ebgan_edge._core.ModelFileError",
      "A model file is damaged, not a model file, or not runnable by this build.", PyExc_ValueError,
      nullptr);
  m.add_object("ModelFileError", py::handle(g_model_error));

  m.def("schema", &Schema, "The NSL-KDD record schema and the model architecture constants.");
  m.def(
      "read_model", [](const py::object& source) { return ModelToDict(ReadAny(source)); },
      py::arg("source"), "Reads and validates a model file (path or bytes) into a dict.");
  m.def("as_batch", &AsBatch, py::arg("batch"),
        "Validates a batch and returns it as a C-contiguous (n, 121) float32 array.");
  m.def("parse_records", &ParseRecordsText, py::arg("text"), py::arg("first_line") = 1,
        py::arg("skip") = false, "Parses CSV records; returns (fields, issue).");
  m.def("encode", &EncodeParsed, py::arg("numeric"), py::arg("category"), py::arg("minimum"),
        py::arg("maximum"), "Encodes parsed records into (n, 121) float32 features.");
  m.def(
      "built_kernels", [](const std::string& p) { return KernelNames(false, p); },
      py::arg("precision") = "fp32");
  m.def(
      "usable_kernels", [](const std::string& p) { return KernelNames(true, p); },
      py::arg("precision") = "fp32");
  m.attr("KERNEL_ENV_VAR") = ebgan::kKernelEnvVar;

  py::class_<PyEngine>(m, "Engine")
      .def(py::init<const py::object&, const std::string&, int>(), py::arg("source"),
           py::arg("kernel") = "", py::arg("threads") = 1)
      .def("score", &PyEngine::Score, py::arg("batch"))
      .def("reconstruct", &PyEngine::Reconstruct, py::arg("batch"))
      .def("score_records", &PyEngine::ScoreRecords, py::arg("numeric"), py::arg("category"))
      .def_property_readonly("native_fp16", &PyEngine::NativeFp16)
      .def_property_readonly("weight_bytes", &PyEngine::WeightBytes)
      .def_property_readonly("kernel", &PyEngine::Kernel)
      .def_property_readonly("threads", &PyEngine::Threads)
      .def("model", &PyEngine::Model);
}
