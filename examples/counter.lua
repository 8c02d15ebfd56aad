-- counter: counts its calls in the function's key-value store.
--   picloud deploy examples/counter.lua
--   curl http://127.0.0.1:8080/fn/counter
function handle(req)
  local n = kv.incr("calls", 1)
  return "called " .. n .. " times\n"
end
