-- wrk script: POST a unique lead as JSON (to /api/v1/leads with a bearer token, or to /f/<key>).
-- Env: BENCH_TOKEN (optional; sends Authorization: Bearer), BENCH_NONCE (makes e-mails unique per run).
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  nonce = os.getenv("BENCH_NONCE") or "0"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"Load%d","last_name":"Tester %d","email":"load-%s-%d-%d@bench.example","company":"Bench Co %d","country":"US"}',
    tid, counter, nonce, tid, counter, counter % 97)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("BENCH_STATUS non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
