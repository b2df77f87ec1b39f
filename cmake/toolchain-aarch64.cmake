# Cross-compiling for 64-bit ARM Linux with Debian's GNU toolchain, and
# running the results (ctest, try_run) under qemu-user.
#
#   cmake -S . -B build/arm -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#     -DEBGAN_QEMU_CPU=cortex-a53 -DEBGAN_BUILD_TESTS=ON
#
# EBGAN_QEMU_CPU picks the emulated core: cortex-a53 is plain ARMv8.0 (no
# dot product), max has every extension qemu knows. Changing it only needs a
# reconfigure, not a rebuild. Needs g++-aarch64-linux-gnu and qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries and headers come from the cross sysroot only; programs (ninja,
# python) from the host.
set(EBGAN_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${EBGAN_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(EBGAN_QEMU_CPU "max" CACHE STRING "CPU model qemu-aarch64 emulates for tests (-cpu)")
set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-aarch64 -L ${EBGAN_AARCH64_SYSROOT} -cpu ${EBGAN_QEMU_CPU})
