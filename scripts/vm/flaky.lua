-- flaky: an event delivery that fails until the time in its payload
-- ("until", Unix seconds) has passed, so a retry is still pending when the
-- guest reboots; over HTTP, shows the attempts and whether it got through.
function handle(req)
  if req.trigger == "event" then
    kv.incr("attempts")
    if os.time() < req.event.payload["until"] then
      error("not yet: attempt " .. req.event.attempt)
    end
    kv.set("delivered", true)
    kv.set("delivered_at", os.time())
    return "delivered"
  end
  return { attempts = kv.get("attempts") or 0, delivered = kv.get("delivered") or false }
end
