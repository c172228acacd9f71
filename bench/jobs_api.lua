-- wrk script for bench/jobs_api.py: `wrk ... -s bench/jobs_api.lua URL -- MODE ARGS`.
--   submit BODY     POST /api/v1/jobs with the JSON BODY (every request queues a new job)
--   get FIRST LAST  GET /api/v1/jobs/{id}, ids FIRST..LAST in turn, each thread from its own start
-- The Authorization header comes from wrk's -H option (wrk.headers).

local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local prepared = nil
local first, count, next_id = 0, 1, 0

function init(args)
  local mode = args[1]
  if mode == "submit" then
    wrk.headers["Content-Type"] = "application/json"
    prepared = wrk.format("POST", "/api/v1/jobs", nil, args[2])
  elseif mode == "get" then
    first = tonumber(args[2])
    count = tonumber(args[3]) - first + 1
    -- Threads start a prime stride apart so they do not read the same rows in step.
    next_id = (thread_index * 7919) % count
  else
    error("usage: -- submit BODY | -- get FIRST LAST")
  end
end

function request()
  if prepared ~= nil then
    return prepared
  end
  local id = first + next_id
  next_id = (next_id + 1) % count
  return wrk.format("GET", "/api/v1/jobs/" .. id)
end
