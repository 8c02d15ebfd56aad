-- counter: counts its calls in kv (data that must survive an upgrade).
function handle(req)
  return tostring(kv.incr("n"))
end
