package supervisor

import "fmt"

// helloSource answers "hello".
const helloSource = `function handle(req) return "hello" end`

// testSource returns a function whose request body picks a behaviour:
//
//	"loop"  spins forever (until its timeout or a kill)
//	"wait"  spins until kv key "release" exists, then answers "released"
//	"bomb"  allocates without bound
//	"error" raises a Lua error
//	other   answers "hello <version>"
func testSource(version string) string {
	return fmt.Sprintf(`
local VERSION = %q
function handle(req)
  local b = req.body
  if b == "loop" then
    while true do end
  elseif b == "wait" then
    while kv.get("release") == nil do end
    return "released " .. VERSION
  elseif b == "bomb" then
    local t = {}
    for i = 1, 100000000 do t[i] = string.rep("x", 1000) .. i end
    return "survived"
  elseif b == "error" then
    log.info("about to fail")
    error("boom")
  end
  return "hello " .. VERSION
end
`, version)
}
