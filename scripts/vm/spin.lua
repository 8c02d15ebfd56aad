-- spin: a busy loop for ?seconds=N of wall time (0 by default).
function handle(req)
  local n = tonumber(req.query.seconds or "0") or 0
  local t0, x = os.time(), 0
  while os.time() - t0 < n do
    x = x + 1
  end
  return tostring(x)
end
