-- wrk script for make bench-serve / soak-serve: POST the JSON body in the
-- file named by $BODY to the URL given on wrk's command line, and count
-- replies by status (printed at the end, for the soak's 5xx check). Each
-- wrk thread has its own Lua state: counters are plain numbers, which
-- thread:get() can copy out (tables cannot).
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

n200, n503, n4xx, n5xx, nother = 0, 0, 0, 0, 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status == 200 then n200 = n200 + 1
  elseif status == 503 then n503 = n503 + 1
  elseif status >= 500 then n5xx = n5xx + 1
  elseif status >= 400 then n4xx = n4xx + 1
  else nother = nother + 1 end
end
function done(summary, latency, requests)
  local t = {n200 = 0, n503 = 0, n4xx = 0, n5xx = 0, nother = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
  end
  io.write(string.format("status 200:%d 503:%d other5xx:%d 4xx:%d other:%d\n",
                         t.n200, t.n503, t.n5xx, t.n4xx, t.nother))
end
