-- GET Users filtered by the userName of a random seeded user (user000000@example.com ...).
-- Environment: BENCH_PATH (e.g. /scim/v2/Users), BENCH_TOKEN, BENCH_USERS (how many are seeded).
local path = os.getenv("BENCH_PATH") or "/scim/v2/Users"
local token = os.getenv("BENCH_TOKEN") or ""
local users = tonumber(os.getenv("BENCH_USERS") or "100000")
local headers = { ["Authorization"] = "Bearer " .. token }

function init(args)
  math.randomseed(os.time() + (tid or 0))
end

function request()
  local n = math.random(0, users - 1)
  local filter = string.format("userName%%20eq%%20%%22user%06d%%40example.com%%22", n)
  return wrk.format("GET", path .. "?filter=" .. filter, headers)
end
