"""A Python host of brake's C ABI (libbrake.so) through ctypes.

    python3 examples/python-host/host.py [path/to/libbrake.so]

Compiles a small program, calls a function with a call id it chooses, cancels
a second call by its id from another thread, and prints what came back. The
library is found at the path given, else $BRAKE_LIBRARY, else the package's
build (build/Release/libbrake.so; `npm install` builds it). Node users get the
path from require('brake/native').libraryPath.
"""
import ctypes
import os
import sys
import threading
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint64, c_void_p

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "build", "Release", "libbrake.so")

BRAKE_OK, BRAKE_CANCELLED = 0, 9


def load(path):
    lib = ctypes.CDLL(path)
    lib.brake_version.restype = c_char_p
    lib.brake_last_error.restype = c_char_p
    lib.brake_program_compile.argtypes = [c_char_p, c_size_t, c_char_p, POINTER(c_void_p)]
    lib.brake_program_free.argtypes = [c_void_p]
    lib.brake_engine_create.argtypes = [c_void_p, c_void_p, POINTER(c_void_p)]
    lib.brake_engine_close.argtypes = [c_void_p]
    lib.brake_engine_free.argtypes = [c_void_p]
    lib.brake_value_int.argtypes = [c_int64]
    lib.brake_value_int.restype = c_void_p
    lib.brake_value_free.argtypes = [c_void_p]
    lib.brake_value_get_int.argtypes = [c_void_p]
    lib.brake_value_get_int.restype = c_int64
    lib.brake_result_status.argtypes = [c_void_p]
    lib.brake_result_value.argtypes = [c_void_p]
    lib.brake_result_value.restype = c_void_p
    lib.brake_result_call_id.argtypes = [c_void_p]
    lib.brake_result_call_id.restype = c_uint64
    lib.brake_cancel.argtypes = [c_void_p, c_uint64]
    lib.brake_call_start.argtypes = [c_void_p, c_uint64, c_char_p, POINTER(c_void_p), c_size_t, c_void_p, DONE, c_void_p]
    return lib


# brake_completion_fn: runs once per admitted call, on an engine thread.
DONE = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)


class Host:
    def __init__(self, lib, source):
        self.lib = lib
        program = c_void_p()
        if lib.brake_program_compile(source, len(source), b"host.baml", ctypes.byref(program)) != BRAKE_OK:
            raise RuntimeError(lib.brake_last_error().decode())
        self.engine = c_void_p()
        rc = lib.brake_engine_create(program, None, ctypes.byref(self.engine))
        lib.brake_program_free(program)
        if rc != BRAKE_OK:
            raise RuntimeError(lib.brake_last_error().decode())
        self.results = {}
        self.settled = threading.Condition()
        self.done = DONE(self._done)  # kept alive as long as the engine

    def _done(self, _user_data, result):
        status = self.lib.brake_result_status(result)
        value = self.lib.brake_result_value(result)
        with self.settled:
            self.results[self.lib.brake_result_call_id(result)] = (
                status,
                self.lib.brake_value_get_int(value) if status == BRAKE_OK else None,
            )
            self.settled.notify_all()

    def start(self, call_id, function, *ints):
        args = [self.lib.brake_value_int(i) for i in ints]
        array = (c_void_p * len(args))(*args)
        rc = self.lib.brake_call_start(self.engine, call_id, function, array, len(args), None, self.done, None)
        for a in args:
            self.lib.brake_value_free(a)  # the call copied them
        return rc

    def wait(self, call_id, timeout=10):
        with self.settled:
            if not self.settled.wait_for(lambda: call_id in self.results, timeout):
                raise TimeoutError(f"call {call_id} did not settle")
            return self.results[call_id]

    def close(self):
        self.lib.brake_engine_close(self.engine)
        self.lib.brake_engine_free(self.engine)


SOURCE = b"""
function add(a: int, b: int) -> int { a + b }
function nap(ms: int) -> int {
  baml.sys.sleep(ms);
  ms
}
"""


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BRAKE_LIBRARY", DEFAULT)
    lib = load(path)
    host = Host(lib, SOURCE)
    try:
        print("brake", lib.brake_version().decode())
        host.start(1, b"add", 2, 40)
        print("add(2, 40) =", host.wait(1)[1])
        host.start(2, b"nap", 60_000)
        threading.Thread(target=lambda: lib.brake_cancel(host.engine, 2)).start()
        status, _ = host.wait(2)
        print("nap(60000) cancelled from another thread:", status == BRAKE_CANCELLED)
    finally:
        host.close()  # joins the engine's threads: no callback runs after this


if __name__ == "__main__":
    main()
