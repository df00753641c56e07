/*
** libbrake: the engine as a shared library for FFI hosts (C, Python ctypes
** and cffi, Rust, Go). CMakeLists.txt links all of brake_core into it and
** exports only brake.h's functions (libbrake.map). A shared library needs a
** source of its own: this one adds nothing.
*/
#include "brake.h"

typedef int brake_libbrake_has_no_code_of_its_own;
