-- bomb: ?bomb=1 allocates until the worker's memory limit stops it;
-- without it, answers "ok" (the call after a bomb must work).
function handle(req)
  if req.query.bomb then
    local t = {}
    for i = 1, 100000000 do
      t[i] = string.rep("x", 1000) .. i
    end
    return "survived " .. #t
  end
  return "ok"
end
