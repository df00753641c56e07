"""VM compute workloads for python3, the same algorithms as compute.baml.

    python3 compute.py FUNCTION N RUNS

Prints one JSON line: the result and the elapsed milliseconds of each run,
timed in-process around the call alone (time.perf_counter), like vm_bench.
"""
import functools
import json
import sys
import time


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def loop(n):
    s = 0
    for i in range(n):
        s += i
    return s


def nested(n):
    s = 0
    for i in range(n):
        for j in range(n):
            s += i + j
    return s


def closures(n):
    xs = list(range(n))
    k = 3
    ys = list(map(lambda x: x * k, xs))
    zs = list(filter(lambda x: x % 2 == 0, ys))
    return functools.reduce(lambda acc, x: acc + x, zs, 0)


def main():
    fn = globals()[sys.argv[1]]
    n = int(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    sys.setrecursionlimit(10000)
    ms = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn(n)
        ms.append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"result": result, "ms": ms}))


main()
