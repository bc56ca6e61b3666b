-- POST a new user with a unique userName on every request, with a bearer token.
-- Environment: BENCH_PATH (e.g. /scim/v2/Users), BENCH_TOKEN, BENCH_TAG (unique per run).
local path = os.getenv("BENCH_PATH") or "/scim/v2/Users"
local token = os.getenv("BENCH_TOKEN") or ""
local tag = os.getenv("BENCH_TAG") or tostring(os.time())

-- setup() runs in wrk's main Lua state; each thread gets its own number so names never collide.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local headers = {
  ["Content-Type"] = "application/scim+json",
  ["Authorization"] = "Bearer " .. token,
}
local template = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",' ..
  '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],' ..
  '"userName":"%s","externalId":"%s","name":{"givenName":"Load","familyName":"User%d",' ..
  '"formatted":"Load User%d"},"displayName":"Load User%d","active":true,' ..
  '"emails":[{"value":"%s","type":"work","primary":true}],' ..
  '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%d","department":"load"}}'

function request()
  n = n + 1
  local name = string.format("%s-%d-%d@load.example", tag, tid or 0, n)
  local body = string.format(template, name, name, n, n, n, name, n)
  return wrk.format("POST", path, headers, body)
end
