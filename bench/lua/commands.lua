-- wrk script for bench/commands.ts: every request is one command of one of N users, through the full
-- path (auth -> actor -> SQLite append -> response). Each user works through its own tasks as a client
-- would: start block 1, complete block 1, start block 2, ... Completing needs the block started first
-- and a task has one block in progress at a time, so a user has at most one request in flight; the
-- response hook (matched by the x-request-id the server echoes) moves that user to its next step.
--
--   wrk ... -s bench/lua/commands.lua <url> -- <data file>
--   data file: one line per user, "<token> <task id>:<block id>,<block id>,... <task id>:..."
--   Run it with -t1: each wrk thread loads every user, so two threads would drive each user twice.
--
-- done() prints "bench: key=value" lines: counts per outcome, tokens earned by the completions that
-- answered 2xx, statuses of failures, and each user's final position (for the check through the API).

local cursor = 1

local users = {}

-- Counters and each user's position, read by done() with thread:get. Flat tables only: wrk 4.1's
-- thread:get crashes on nested ones.
pos_task = {}
pos_block = {}
pos_phase = {}
pos_busy = {}
pos_failed = {}
start_ok = 0
complete_ok = 0
failed = 0
tokens = 0
starved = 0
unmatched = 0
statuses = {}

function init(args)
  for line in io.lines(args[1]) do
    local token, rest = line:match("^(%S+)%s+(.*)$")
    local tasks = {}
    for task, blocks in rest:gmatch("([^%s:]+):(%S+)") do
      local list = {}
      for block in blocks:gmatch("[^,]+") do
        list[#list + 1] = block
      end
      tasks[#tasks + 1] = { id = task, blocks = list }
    end
    users[#users + 1] = {
      auth = "Bearer " .. token,
      tasks = tasks,
      task = 1,
      block = 1,
      phase = "start",
      busy = false,
      done = false,
      seq = 0
    }
  end
  for i, _ in ipairs(users) do
    pos_task[i] = 1
    pos_block[i] = 1
    pos_phase[i] = "start"
    pos_busy[i] = false
    pos_failed[i] = false
  end
end

local complete_body = '{"effort_rating":7}'

function request()
  local n = #users
  for _ = 1, n do
    local i = cursor
    cursor = cursor % n + 1
    local u = users[i]
    if not u.busy and not u.done then
      u.busy = true
      pos_busy[i] = true
      u.seq = u.seq + 1
      local task = u.tasks[u.task]
      local path = "/api/v1/tasks/" .. task.id .. "/blocks/" .. task.blocks[u.block] .. "/" .. u.phase
      local headers = { ["Authorization"] = u.auth, ["x-request-id"] = "u" .. i .. "-" .. u.seq }
      if u.phase == "complete" then
        headers["Content-Type"] = "application/json"
        return wrk.format("POST", path, headers, complete_body)
      end
      headers["Content-Length"] = "0"
      return wrk.format("POST", path, headers, nil)
    end
  end
  -- Every user is busy or finished: the data file was too small for this run (reported, and the bench fails).
  starved = starved + 1
  return wrk.format("GET", "/health/live")
end

local function advance(i, u)
  if u.phase == "start" then
    u.phase = "complete"
  else
    u.phase = "start"
    u.block = u.block + 1
    if u.block > #u.tasks[u.task].blocks then
      u.block = 1
      u.task = u.task + 1
      if u.task > #u.tasks then
        u.done = true
      end
    end
  end
  pos_task[i] = u.task
  pos_block[i] = u.block
  pos_phase[i] = u.phase
end

function response(status, headers, body)
  local id = headers["x-request-id"] or headers["X-Request-Id"]
  local index = id and tonumber(id:match("^u(%d+)-"))
  local u = index and users[index]
  if not u then
    unmatched = unmatched + 1
    return
  end
  u.busy = false
  pos_busy[index] = false
  if status >= 200 and status < 300 then
    if u.phase == "start" then
      start_ok = start_ok + 1
    else
      complete_ok = complete_ok + 1
      tokens = tokens + (tonumber(body:match('"tokens_earned":(%d+),"bonus_tokens"')) or 0)
    end
    advance(index, u)
  else
    -- The user's state on the server is now unknown: it sends nothing more (the check reports it).
    failed = failed + 1
    statuses[status] = (statuses[status] or 0) + 1
    u.done = true
    pos_failed[index] = true
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local totals = { start_ok = 0, complete_ok = 0, failed = 0, tokens = 0, starved = 0, unmatched = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("bench: status.%s=%d\n", tostring(status), count))
    end
    -- each user's position: "task,block,phase,busy,failed" (1-based task and block)
    local task, block, phase = thread:get("pos_task"), thread:get("pos_block"), thread:get("pos_phase")
    local busy, failed = thread:get("pos_busy"), thread:get("pos_failed")
    for i = 1, #task do
      io.write(string.format("bench: user.%d=%d,%d,%s,%s,%s\n", i, task[i], block[i], phase[i], tostring(busy[i]), tostring(failed[i])))
    end
  end
  for key, value in pairs(totals) do
    io.write(string.format("bench: %s=%d\n", key, value))
  end
  -- wrk --latency prints up to p99 only; bench/peer.ts also reports p99.9 (microseconds).
  io.write(string.format("bench: p999_us=%d\n", latency:percentile(99.9)))
end
