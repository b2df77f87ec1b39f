// A small test harness for the C++ tests: named cases, checks that print both
// operands, and a main() (harness.cpp) that runs the cases whose names start
// with the prefixes given on the command line.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "ebgan/engine.h"

namespace ebgan_test {

using CaseFn = void (*)();

struct Registrar {
  Registrar(const char* name, CaseFn fn);
};

// Records a failed check; the current case carries on unless the check was
// an ASSERT_*.
void Fail(const char* file, int line, const std::string& what);

// The usable paths that have an fp32 kernel: the ones every fp32 test runs.
std::vector<ebgan::Isa> Fp32Isas();

// Options from the command line.
const std::string& ModelPath();  // --model PATH, the shipped model file

template <typename T>
std::string Show(const T& v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}
inline std::string Show(const std::string& v) {
  return "\"" + v + "\"";
}
inline std::string Show(const char* v) {
  return v ? Show(std::string(v)) : "(null)";
}

}  // namespace ebgan_test

#define EBGAN_TEST(name)                                              \
  static void name();                                                 \
  static const ::ebgan_test::Registrar name##_registrar(#name, name); \
  static void name()

#define EBGAN_CHECK_OP_(a, op, b, on_fail)                                                    \
  do {                                                                                        \
    const auto& ebgan_a_ = (a);                                                               \
    const auto& ebgan_b_ = (b);                                                               \
    if (!(ebgan_a_ op ebgan_b_)) {                                                            \
      ::ebgan_test::Fail(__FILE__, __LINE__,                                                  \
                         std::string(#a " " #op " " #b ": ") + ::ebgan_test::Show(ebgan_a_) + \
                             " vs " + ::ebgan_test::Show(ebgan_b_));                          \
      on_fail;                                                                                \
    }                                                                                         \
  } while (0)

#define EXPECT_TRUE(c)                                              \
  do {                                                              \
    if (!(c)) ::ebgan_test::Fail(__FILE__, __LINE__, "false: " #c); \
  } while (0)
#define ASSERT_TRUE(c)                                      \
  do {                                                      \
    if (!(c)) {                                             \
      ::ebgan_test::Fail(__FILE__, __LINE__, "false: " #c); \
      return;                                               \
    }                                                       \
  } while (0)
#define EXPECT_EQ(a, b) EBGAN_CHECK_OP_(a, ==, b, (void)0)
#define EXPECT_NE(a, b) EBGAN_CHECK_OP_(a, !=, b, (void)0)
#define EXPECT_LE(a, b) EBGAN_CHECK_OP_(a, <=, b, (void)0)
#define EXPECT_GE(a, b) EBGAN_CHECK_OP_(a, >=, b, (void)0)
#define ASSERT_EQ(a, b) EBGAN_CHECK_OP_(a, ==, b, return )
