#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real gRPC server for the agent's tests: parca.profilestore.v1alpha1.ProfileStoreService
with WriteRaw, on grpcio (Debian's python3-grpcio), messages from stubs that protoc generates
from the project's proto files at start. It checks what Parca checks (series labels, pprof ids,
values, time) and appends one JSON line per accepted request to OUT:
  {"n": N, "series": [{"labels": {...}, "samples": COUNT, "time_nanos": T,
                       "duration_nanos": D, "functions": [...]}]}

The DebuginfoService stores uploads in WORK/debuginfo/BUILD_ID and logs every call to
OUT.debuginfo as JSON lines.

Usage: parca_server.py --port PORT --out FILE --proto-dir DIR --work DIR [--token TOKEN]
                       [--tls-cert CERT --tls-key KEY]
"""
import argparse
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from concurrent import futures

import grpc


def generate_stubs(proto_dir, work):
    """protoc --python_out for profile.proto (pprof) and the Parca protos, into work/."""
    subprocess.run(["protoc", "--proto_path=" + proto_dir, "--python_out=" + work,
                    os.path.join(proto_dir, "profile.proto"),
                    os.path.join(proto_dir, "parca.proto"),
                    os.path.join(proto_dir, "parca_debuginfo.proto")], check=True)
    sys.path.insert(0, work)


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_pprof(prof):
    """What Parca refuses, as a reason, or None."""
    if prof.time_nanos == 0:
        return "time_nanos is 0"
    for i, m in enumerate(prof.mapping):
        if m.id != i + 1:
            return f"mapping {i} has id {m.id}"
    for i, f in enumerate(prof.function):
        if f.id != i + 1:
            return f"function {i} has id {f.id}"
    for i, loc in enumerate(prof.location):
        if loc.id != i + 1:
            return f"location {i} has id {loc.id}"
        if loc.mapping_id > len(prof.mapping):
            return f"location {loc.id} has mapping {loc.mapping_id}"
    for s in prof.sample:
        if len(s.value) != len(prof.sample_type):
            return "sample with a wrong number of values"
        for lid in s.location_id:
            if lid == 0 or lid > len(prof.location):
                return f"sample location id {lid} out of range"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--token")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--signed-url", action="store_true",
                    help="debuginfo uploads by HTTP PUT to a URL of a second server")
    args = ap.parse_args()
    generate_stubs(args.proto_dir, args.work)
    import parca_debuginfo_pb2 as dbg
    import parca_pb2
    import profile_pb2

    lock = threading.Lock()
    counter = [0]
    attempts_file = args.out + ".attempts"

    def write_raw(request, context):
        with lock:
            with open(attempts_file, "a") as f:
                f.write("1\n")
        if args.token is not None:
            md = dict(context.invocation_metadata())
            if md.get("authorization") != "Bearer " + args.token:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad bearer token")
        summary = []
        for series in request.series:
            labels = {}
            for label in series.labels.labels:
                if not LABEL_NAME.match(label.name) or label.name in labels:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"bad or duplicate label name {label.name!r}")
                labels[label.name] = label.value
            if "__name__" not in labels:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "series without __name__")
            for raw in series.samples:
                data = raw.raw_profile
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                prof = profile_pb2.Profile()
                prof.ParseFromString(data)
                why = check_pprof(prof)
                if why:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid profile: " + why)
                names = sorted({prof.string_table[f.name] for f in prof.function})
                summary.append({
                    "labels": labels,
                    "samples": sum(s.value[0] for s in prof.sample),
                    "time_nanos": prof.time_nanos,
                    "duration_nanos": prof.duration_nanos,
                    "functions": names,
                })
        with lock:
            counter[0] += 1
            with open(args.out, "a") as f:
                f.write(json.dumps({"n": counter[0], "series": summary}) + "\n")
        return parca_pb2.WriteRawResponse()

    handler = grpc.method_handlers_generic_handler(
        "parca.profilestore.v1alpha1.ProfileStoreService",
        {"WriteRaw": grpc.unary_unary_rpc_method_handler(
            write_raw,
            request_deserializer=parca_pb2.WriteRawRequest.FromString,
            response_serializer=parca_pb2.WriteRawResponse.SerializeToString)})
    store = os.path.join(args.work, "debuginfo")
    os.makedirs(store, exist_ok=True)
    uploads = {}  # upload id -> build id

    def log_call(method, **kw):
        with lock:
            with open(args.out + ".debuginfo", "a") as f:
                f.write(json.dumps(dict(method=method, **kw)) + "\n")

    def should_initiate(request, context):
        have = os.path.exists(os.path.join(store, request.build_id))
        log_call("ShouldInitiateUpload", build_id=request.build_id, hash=request.hash,
                 type=request.type)
        return dbg.ShouldInitiateUploadResponse(should_initiate_upload=not have,
                                                reason="exists" if have else "new")

    put_server = None
    if args.signed_url:
        class PutHandler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                upload_id = self.path.rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                build_id, size = uploads.get(upload_id, (None, None))
                if build_id is None or len(data) != size:
                    self.send_response(400)
                    self.end_headers()
                    return
                with open(os.path.join(store, build_id), "wb") as f:
                    f.write(data)
                log_call("PUT", build_id=build_id, size=len(data))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        put_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PutHandler)
        threading.Thread(target=put_server.serve_forever, daemon=True).start()

    def initiate(request, context):
        if not request.hash or request.size <= 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "hash and size are required")
        upload_id = "u%d-%s" % (len(uploads) + 1, request.build_id[:8])
        with lock:
            uploads[upload_id] = (request.build_id, request.size)
        log_call("InitiateUpload", build_id=request.build_id, size=request.size)
        if put_server:
            url = "http://127.0.0.1:%d/upload/%s" % (put_server.server_address[1], upload_id)
            return dbg.InitiateUploadResponse(upload_instructions=dbg.UploadInstructions(
                build_id=request.build_id, upload_id=upload_id, signed_url=url,
                upload_strategy=dbg.UploadInstructions.UPLOAD_STRATEGY_SIGNED_URL))
        return dbg.InitiateUploadResponse(upload_instructions=dbg.UploadInstructions(
            build_id=request.build_id, upload_id=upload_id,
            upload_strategy=dbg.UploadInstructions.UPLOAD_STRATEGY_GRPC))

    def upload(request_iterator, context):
        info = None
        data = bytearray()
        for req in request_iterator:
            if info is None:
                if req.WhichOneof("data") != "info":
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "info must come first")
                info = req.info
            elif req.WhichOneof("data") == "chunk_data":
                data += req.chunk_data
            else:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a second info")
        if info is None or uploads.get(info.upload_id, (None,))[0] != info.build_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown upload")
        if len(data) != uploads[info.upload_id][1]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "size differs from InitiateUpload")
        with open(os.path.join(store, info.build_id), "wb") as f:
            f.write(data)
        log_call("Upload", build_id=info.build_id, size=len(data))
        return dbg.UploadResponse(build_id=info.build_id, size=len(data))

    def mark_finished(request, context):
        log_call("MarkUploadFinished", build_id=request.build_id, upload_id=request.upload_id)
        return dbg.MarkUploadFinishedResponse()

    debuginfo = grpc.method_handlers_generic_handler(
        "parca.debuginfo.v1alpha1.DebuginfoService", {
            "ShouldInitiateUpload": grpc.unary_unary_rpc_method_handler(
                should_initiate, request_deserializer=dbg.ShouldInitiateUploadRequest.FromString,
                response_serializer=dbg.ShouldInitiateUploadResponse.SerializeToString),
            "InitiateUpload": grpc.unary_unary_rpc_method_handler(
                initiate, request_deserializer=dbg.InitiateUploadRequest.FromString,
                response_serializer=dbg.InitiateUploadResponse.SerializeToString),
            "Upload": grpc.stream_unary_rpc_method_handler(
                upload, request_deserializer=dbg.UploadRequest.FromString,
                response_serializer=dbg.UploadResponse.SerializeToString),
            "MarkUploadFinished": grpc.unary_unary_rpc_method_handler(
                mark_finished, request_deserializer=dbg.MarkUploadFinishedRequest.FromString,
                response_serializer=dbg.MarkUploadFinishedResponse.SerializeToString),
        })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((handler, debuginfo))
    address = f"127.0.0.1:{args.port}"
    if args.tls_cert:
        creds = grpc.ssl_server_credentials(
            [(open(args.tls_key, "rb").read(), open(args.tls_cert, "rb").read())])
        server.add_secure_port(address, creds)
    else:
        server.add_insecure_port(address)
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
