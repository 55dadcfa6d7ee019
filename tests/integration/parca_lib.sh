# The test gRPC server (parca_server.py on grpcio) for the agent's tests (sourced after lib.sh):
# a free port, start and stop, and waiting on what the server or the agent writes.
PY=/usr/bin/python3
if ! $PY -c 'import grpc, google.protobuf' 2>/dev/null || ! command -v protoc >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL: python3-grpcio, python3-protobuf or protoc missing"; exit 1; }
	echo "SKIP: no grpcio/protoc"; exit 77
fi
SERVER=$(dirname "${BASH_SOURCE[0]}")/parca_server.py
PROTO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../proto" && pwd)
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
ADDR=127.0.0.1:$PORT
SERVER_PID=

# wait_for FILE PATTERN SECONDS: until a line of FILE matches (grep -E), false after SECONDS
wait_for() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_server OUT [ARGS...]: a server on $PORT appending accepted requests to OUT, uploads
# under $TMP/stubs/debuginfo
start_server() {
	local out=$1; shift
	mkdir -p "$TMP/stubs"
	$PY "$SERVER" --port "$PORT" --out "$out" --proto-dir "$PROTO_DIR" --work "$TMP/stubs" "$@" >"$TMP/server.log" 2>&1 &
	SERVER_PID=$!; PIDS+=("$SERVER_PID")
	wait_for "$TMP/server.log" listening 20 || { fail "server did not start: $(cat "$TMP/server.log")"; finish; }
}
# make_test_certs: a CA of the test's own ($TMP/ca.pem, ca.key) and a server certificate for
# 127.0.0.1 it signed ($TMP/srv.pem, srv.key)
make_test_certs() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=scorch test CA" \
		-keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$TMP/srv.key" \
		-out "$TMP/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/san.ext"
	openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
		-days 2 -extfile "$TMP/san.ext" -out "$TMP/srv.pem" 2>/dev/null
}
stop_server() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; }
