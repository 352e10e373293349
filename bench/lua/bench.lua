-- wrk script for the meetbook benchmark (wrk 4.x, LuaJIT).
--
--   wrk -t1 -c32 -d10s -s bench/lua/bench.lua http://127.0.0.1:8000 -- MODE DATA PATH OFFSET BASE THREADS
--
-- MODE "create": DATA has lines "token<TAB>team_id<TAB>recipient_id"; every request POSTs
--   a create body to PATH with a date unique to the request (BASE + n minutes, with a Z
--   offset) for the next line's recipient, so no two creates ask for the same slot.
-- MODE "requests": DATA has lines "METHOD<TAB>path<TAB>token"; request n sends line n
--   (round robin), e.g. a different pending meeting to confirm each time.
-- OFFSET shifts n so that consecutive runs never reuse a line or a date.
-- At the end one line "BENCHJSON {...}" carries counts, latency percentiles (us) and
-- the status codes seen; "BENCHERR <status> <body>" shows the first error body.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  local data = args[2]
  path = args[3]
  offset = tonumber(args[4] or "0")
  base = tonumber(args[5] or "0")
  nthreads = tonumber(args[6] or "1")
  rows = {}
  for line in io.lines(data) do
    local fields = {}
    for field in string.gmatch(line, "[^\t]+") do
      fields[#fields + 1] = field
    end
    rows[#rows + 1] = fields
  end
  n = offset + tid
  statuses = {}
  first_error = nil
end

function request()
  local i = n
  n = n + nthreads
  local row = rows[(i % #rows) + 1]
  if mode == "create" then
    local date = os.date("!%Y-%m-%dT%H:%M:%SZ", base + i * 60)
    local body = '{"user_id": ' .. row[3] .. ', "team_id": ' .. row[2]
      .. ', "date": "' .. date .. '", "link": "https://meet.example.test/bench/' .. i .. '"}'
    return wrk.format("POST", path, {
      ["Authorization"] = "Bearer " .. row[1],
      ["Content-Type"] = "application/json",
    }, body)
  end
  return wrk.format(row[1], row[2], { ["Authorization"] = "Bearer " .. row[3] })
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status >= 400 and first_error == nil then
    first_error = key .. " " .. string.sub(body or "", 1, 300)
  end
end

function done(summary, latency, requests)
  local seen = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    if counts then
      for code, count in pairs(counts) do
        seen[code] = (seen[code] or 0) + count
      end
    end
    local err = thread:get("first_error")
    if err then
      io.write("BENCHERR " .. string.gsub(err, "\n", " ") .. "\n")
    end
  end
  local parts = {}
  for code, count in pairs(seen) do
    parts[#parts + 1] = string.format('"%s": %d', code, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, '
      .. '"p95": %d, "p99": %d, "p999": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9),
    table.concat(parts, ", ")))
end
