-- bench/lua/bearer.lua with a paced load (bench/soak.ts): before each request a connection waits a
-- random 0..2*delay_ms ms, so C connections send about C / delay_ms * 1000 requests/s in total, spread
-- evenly, instead of a closed loop as fast as the server answers.
--
--   wrk ... -s bench/lua/paced.lua <url> -- tokens=<file> paths=/a,/b delay_ms=<n>

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "bearer.lua")

function delay()
  return math.random(0, 2 * delay_ms)
end
