-- tick: counts its cron runs in kv; over HTTP, shows the count and the
-- time of the last run.
function handle(req)
  if req.trigger == "cron" then
    kv.incr("ticks")
    kv.set("last", os.time())
    return "tick"
  end
  return { ticks = kv.get("ticks") or 0, last = kv.get("last") or 0 }
end
