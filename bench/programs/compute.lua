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

-- Lua has no array methods: the same three passes, each calling a closure.
local function map(xs, f) local r = {} for i = 1, #xs do r[i] = f(xs[i]) end return r end
local function filter(xs, f) local r = {} for i = 1, #xs do if f(xs[i]) then r[#r + 1] = xs[i] end end return r end
local function reduce(xs, f, acc) for i = 1, #xs do acc = f(acc, xs[i]) end return acc end

local function closures(n)
  local xs = {}
  for i = 0, n - 1 do xs[i + 1] = i end
  local k = 3
  local ys = map(xs, function(x) return x * k end)
  local zs = filter(ys, function(x) return x % 2 == 0 end)
  return reduce(zs, function(acc, x) return acc + x end, 0)
end

local fns = { fib = fib, loop = loop, nested = nested, closures = closures }
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
