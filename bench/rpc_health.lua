-- wrk script: JSON-RPC health calls over keep-alive connections.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"health"}'
wrk.headers["Content-Type"] = "application/json"
