-- wrk script for authenticated reads (bench/http.ts's "+ auth" rung, bench/commands.ts's per-endpoint
-- CPU rows, bench/soak.ts): each request takes the next user's token and the next path in turn.
-- With body=<json> each request is a POST of that JSON body instead (bench/instances.ts's mood writes).
--
--   wrk ... -s bench/lua/bearer.lua <url> -- tokens=<file> paths=/a,/b [body=<json>]
--   tokens file: one access token per line
-- (bench/lua/paced.lua is the same with a delay between requests.)
--
-- done() prints "bench: key=value" lines: responses per path class (ok = 2xx, failed = the rest), p99.9,
-- and failures per status.

local tokens = {}
local paths = {}
local next_token = 1
local next_path = 1
local body = nil

delay_ms = 0

ok = 0
failed = 0
statuses = {}

function init(args)
  for _, arg in ipairs(args) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    if key == "tokens" then
      for line in io.lines(value) do
        if #line > 0 then
          tokens[#tokens + 1] = "Bearer " .. line
        end
      end
    elseif key == "paths" then
      for path in value:gmatch("[^,]+") do
        paths[#paths + 1] = path
      end
    elseif key == "body" then
      body = value
    elseif key == "delay_ms" then
      delay_ms = tonumber(value)
    end
  end
  if #paths == 0 then
    paths[1] = wrk.path
  end
  math.randomseed(os.time())
end

function request()
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = tokens[next_token]
    next_token = next_token % #tokens + 1
  end
  if body ~= nil then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path, headers, nil)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    failed = failed + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local totals = { ok = 0, failed = 0 }
  for _, thread in ipairs(threads) do
    totals.ok = totals.ok + thread:get("ok")
    totals.failed = totals.failed + thread:get("failed")
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("bench: status.%s=%d\n", tostring(status), count))
    end
  end
  io.write(string.format("bench: ok=%d\nbench: failed=%d\n", totals.ok, totals.failed))
  -- wrk --latency prints up to p99 only; bench/peer.ts also reports p99.9 (microseconds).
  io.write(string.format("bench: p999_us=%d\n", latency:percentile(99.9)))
end
