-- wrk script for bench/webhook.py: POST pre-signed X deliveries, one line each
-- ("<signature>\t<json body>"), every thread its own share so no tweet is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  sigs, bodies = {}, {}
  local line_no = 0
  for line in io.lines(path) do
    if line_no % nthreads == id then
      local tab = line:find("\t", 1, true)
      sigs[#sigs + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    line_no = line_no + 1
  end
  sent = 0
  available = #bodies
end

function request()
  sent = sent + 1
  local k = ((sent - 1) % #bodies) + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["x-twitter-webhooks-signature"] = sigs[k],
  }, bodies[k])
end

function done(summary, latency, requests)
  local available, issued = 0, 0
  for _, thread in ipairs(threads) do
    available = available + thread:get("available")
    issued = issued + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULTJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "issued": %d, "available": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect, e.read, e.write, e.timeout, issued, available))
end
