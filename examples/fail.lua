-- fail: raises an error, to see how failures look (HTTP 500 with the Lua
-- message and line; the traceback is in `picloud logs fail`).
--   picloud deploy examples/fail.lua
--   curl -i http://127.0.0.1:8080/fn/fail
function handle(req)
  log.warn("about to fail")
  error("something went wrong")
end
