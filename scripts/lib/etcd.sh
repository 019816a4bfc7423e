# shellcheck shell=bash
# start_etcd DIR: starts a private single-member etcd on loopback with free ports and its data in
# DIR; sets ETCD_PID and ETCD_ENDPOINTS. The caller stops it with `stop_etcd`.
# --max-request-bytes is raised to 2 MiB so that a write of the store's largest value (1.5 MiB,
# kube-store's Limits) fits with its key and transaction framing, as in the test launcher.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_etcd() {
  local dir=$1 client peer
  client=$(free_port)
  peer=$(free_port)
  mkdir -p "$dir"
  etcd --name test --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "test=http://127.0.0.1:$peer" --initial-cluster-state new \
    --max-request-bytes 2097152 \
    --logger zap --log-outputs "$dir/etcd.log" >/dev/null 2>&1 &
  ETCD_PID=$!
  ETCD_ENDPOINTS="http://127.0.0.1:$client"
  for _ in $(seq 1 100); do
    if curl -fsS "$ETCD_ENDPOINTS/health" 2>/dev/null | grep -q '"health":"true"'; then
      return 0
    fi
    if ! kill -0 "$ETCD_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "etcd did not become healthy; its log:" >&2
  tail -n 20 "$dir/etcd.log" >&2 || true
  return 1
}

stop_etcd() {
  if [ -n "${ETCD_PID:-}" ] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  ETCD_PID=
}
