"""libbrake.so driven from Python through ctypes (ctest: ffi_python): compile,
call with a chosen id, cancel by id from another Python thread while the call
sleeps, read results, a duplicate live id refused without disturbing the
first call, and the library exporting only brake.h's functions.

    python3 test/ffi/python_ctypes_test.py path/to/libbrake.so
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python-host"))
import host as brake  # noqa: E402  (the example is the binding this test drives)

BRAKE_DUPLICATE_CALL_ID = 6
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


def main():
    path = sys.argv[1]
    lib = brake.load(path)
    h = brake.Host(lib, brake.SOURCE)

    check(h.start(10, b"add", 2, 40) == brake.BRAKE_OK, "add starts")
    check(h.wait(10) == (brake.BRAKE_OK, 42), "add(2, 40) is 42")

    # A call sleeping a minute, cancelled by its id from another thread.
    check(h.start(11, b"nap", 60_000) == brake.BRAKE_OK, "nap starts")
    # The same id while it is live: refused, the live call undisturbed.
    check(h.start(11, b"add", 1, 1) == BRAKE_DUPLICATE_CALL_ID, "a live id is refused")
    started = time.monotonic()
    canceller = threading.Thread(target=lambda: lib.brake_cancel(h.engine, 11))
    canceller.start()
    canceller.join()
    check(h.wait(11)[0] == brake.BRAKE_CANCELLED, "nap settles cancelled")
    check(time.monotonic() - started < 2, "the cancel is prompt")
    # The id is free again once its call finished: once its completion
    # callback has returned (brake.h), a moment after it recorded the result.
    rc = h.start(11, b"add", 3, 4)
    for _ in range(1000):
        if rc != BRAKE_DUPLICATE_CALL_ID:
            break
        time.sleep(0.001)
        rc = h.start(11, b"add", 3, 4)
    check(rc == brake.BRAKE_OK, "a finished id can be reused")
    with h.settled:
        h.settled.wait_for(lambda: h.results.get(11, (None,))[0] == brake.BRAKE_OK, 10)
    check(h.results[11] == (brake.BRAKE_OK, 7), "the reused id's result")

    # Many calls from several Python threads at once.
    def burst(base):
        for i in range(200):
            check(h.start(base + i, b"add", base, i) == brake.BRAKE_OK, f"burst call {base + i} starts")

    threads = [threading.Thread(target=burst, args=(1000 * (k + 1),)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for i in range(200):
            base = 1000 * (k + 1)
            check(h.wait(base + i) == (brake.BRAKE_OK, base + i), f"burst call {base + i}")
    h.close()

    # Only brake_ symbols are exported.
    try:
        out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    except FileNotFoundError:
        out = None
        print("skipped: the exports check (no nm)")
    if out is not None and out.returncode == 0:
        names = [line.split()[-1] for line in out.stdout.splitlines() if line.split()[1:2] and line.split()[1] in "TDBRVW"]
        others = [n for n in names if not n.startswith("brake_")]
        check(not others, f"only brake_ symbols exported (also: {others[:5]})")
        check("brake_call_start" in names and "brake_cancel" in names, "the C ABI is exported")

    print("ok" if not failures else f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
