-- VM compute workloads for lua5.4, the same algorithms as compute.baml.
--   lua5.4 compute.lua FUNCTION N RUNS
-- Prints one JSON line like compute.py. Lua has no wall clock finer than a
-- second, so runs are timed with os.clock (CPU time of this single-threaded
-- process, which equals its wall time for a compute loop).
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function loop(n)
  local s = 0
  for i = 0, n - 1 do s = s + i end
  return s
end

local function nested(n)
  local s = 0
  for i = 0, n - 1 do
    for j = 0, n - 1 do s = s + i + j end
  end
  return s
end

local fns = { fib = fib, loop = loop, nested = nested }
local fn = fns[arg[1]]
local n = math.tointeger(tonumber(arg[2]))
local runs = tonumber(arg[3] or "1")
local ms, result = {}, nil
for r = 1, runs do
  local t0 = os.clock()
  result = fn(n)
  ms[r] = string.format("%.3f", (os.clock() - t0) * 1000.0)
end
print(string.format('{"result": %d, "ms": [%s]}', result, table.concat(ms, ", ")))
