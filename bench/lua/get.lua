-- GET one fixed path (with its query) with a bearer token. Environment: BENCH_PATH, BENCH_TOKEN.
local path = os.getenv("BENCH_PATH") or "/healthz"
local token = os.getenv("BENCH_TOKEN")
local headers = {}
if token then headers["Authorization"] = "Bearer " .. token end

function request()
  return wrk.format("GET", path, headers)
end
