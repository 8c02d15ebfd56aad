-- hello: the smallest PiCloud function.
--   picloud deploy examples/hello.lua
--   curl http://127.0.0.1:8080/fn/hello
function handle(req)
  return {
    status = 200,
    headers = { ["content-type"] = "application/json" },
    body = json.encode({ hello = "world" }),
  }
end
