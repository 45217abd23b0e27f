-- wrk script for bench/chain: posts pre-built JSON-RPC batch bodies
-- (broadcast_tx_sync), one line of the file in BODIES each, every body
-- once, split among the wrk threads. A batch that met a full mempool is
-- sent again (the node's backpressure); once a thread has sent its share
-- it sends cheap health calls. Run it with one connection per thread, so
-- that each response belongs to the thread's last request.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local n = tonumber(os.getenv("THREADS"))
  mine = {}
  retry = {}
  local i = 0
  for line in io.lines(os.getenv("BODIES")) do
    if i % n == id then
      table.insert(mine, line)
    end
    i = i + 1
  end
  next_body = 1
  last = nil
  -- wrk builds one request ahead when a thread starts, which may never be
  -- sent: let that one be a health call.
  primed = false
  health = '{"jsonrpc":"2.0","id":0,"method":"health"}'
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  if not primed then
    primed = true
    last = nil
    return wrk.format("POST", "/", headers, health)
  end
  if #retry > 0 then
    last = table.remove(retry, 1)
  elseif next_body <= #mine then
    last = mine[next_body]
    next_body = next_body + 1
  else
    last = nil
    return wrk.format("POST", "/", headers, health)
  end
  return wrk.format("POST", "/", headers, last)
end

function response(status, headers, body)
  if last and string.find(body, "mempool is full", 1, true) then
    table.insert(retry, last)
  end
end
