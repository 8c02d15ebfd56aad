-- echo: answers with what it received, as JSON (a table without status is
-- JSON-encoded with status 200).
--   picloud deploy examples/echo.lua
--   curl -X POST 'http://127.0.0.1:8080/fn/echo/some/path?x=1' -d 'hi'
function handle(req)
  log.info("echo " .. req.method .. " " .. req.path)
  return {
    method = req.method,
    path = req.path,
    query = req.query,
    body = req.body,
    trigger = req.trigger,
  }
end
