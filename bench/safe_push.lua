-- safe_push.lua: wrk load of encrypted (safe-mode) pushes for wxscened.
--
--   wrk -tT -c64 -d10s -s bench/safe_push.lua http://127.0.0.1:PORT/wx -- FILE [FIRST [LAST [T]]]
--
-- FILE comes from bench/gen_safe_bodies.py: one request per line,
-- "PATH?QUERY<TAB>BODY", each a distinct event encrypted with its own
-- msg_signature in the query. Requests use lines FIRST..LAST (1-based,
-- default all); with T wrk threads (pass T again after LAST: a thread's
-- init cannot see how many threads there are), thread t takes every T-th
-- line. Running past LAST wraps around, which would make the server see
-- retries instead of new events: done() prints how often a thread wrapped,
-- so a too-short file shows up instead of silently flattering the figure.
--
-- Responses that are not 200, or are 200 without an encrypted envelope
-- (<Encrypt> and <MsgSignature>) in the body, are counted and printed.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- Each line's whole HTTP request, built once here: request() then hands
-- wrk a string it already has. Formatting per request (a ~1 KB string
-- each time) kept wrk's Lua collector busy over a heap of ~600,000 bodies:
-- wrk used half a core and the safe runs measured the client (with
-- BODIES=800000, safe 33.6k req/s with the old script against 40k here).
local function load_requests(file, first, last)
  local requests, n, i = {}, 0, 0
  local headers = { ["Content-Type"] = "text/xml" }
  for line in io.lines(file) do
    n = n + 1
    if last ~= nil and n > last then break end
    if n >= first and (n - first) % nthreads == tid - 1 then
      local tab = line:find("\t", 1, true)
      i = i + 1
      requests[i] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
    end
  end
  return requests, i
end

function init(args)
  local file = args[1] or error("usage: -- FILE [FIRST [LAST [THREADS]]]")
  local first = tonumber(args[2] or "1")
  local last = args[3] and tonumber(args[3]) or nil
  nthreads = tonumber(args[4] or "1")
  requests, count = load_requests(file, first, last)
  if count == 0 then error("safe_push.lua: no requests in " .. file) end
  idx, wrapped, responses, non200, badbody = 0, 0, 0, 0, 0
end

function request()
  idx = idx + 1
  if idx > count then idx, wrapped = 1, wrapped + 1 end
  return requests[idx]
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
  elseif not (string.find(body, "<Encrypt>", 1, true) and string.find(body, "<MsgSignature>", 1, true)) then
    badbody = badbody + 1
  end
end

function done(summary, latency, requests)
  local r, n, b, w, c = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    r, n, b = r + t:get("responses"), n + t:get("non200"), b + t:get("badbody")
    w, c = w + t:get("wrapped"), c + t:get("count")
  end
  io.write(string.format("safe_push.lua: responses=%d non200=%d badbody=%d wrapped=%d lines=%d\n",
                         r, n, b, w, c))
end
