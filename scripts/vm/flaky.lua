-- flaky: an event delivery that fails until released (GET ?release=1), so
-- a retry is still pending when the guest reboots; over HTTP, shows the
-- attempts, whether and when it got through.
function handle(req)
  if req.trigger == "event" then
    kv.incr("attempts")
    if not kv.get("release") then
      error("not released yet: attempt " .. req.event.attempt)
    end
    kv.set("delivered", true)
    kv.set("delivered_at", os.time())
    return "delivered"
  end
  if req.query.release then
    kv.set("release", true)
  end
  return { attempts = kv.get("attempts") or 0, delivered = kv.get("delivered") or false,
           delivered_at = kv.get("delivered_at") or 0 }
end
