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

parca.query.v1alpha1.QueryService/Query answers MERGE + PPROF over what WriteRaw accepted:
the series whose __name__ is the selector's name (before its first ':') and whose labels pass
its =, != and =~ matchers, the profiles with time_nanos in [start, end), merged into one gzip'ed
pprof; NOT_FOUND when none. Each query is logged to OUT.queries.

Usage: parca_server.py --port PORT --out FILE --proto-dir DIR --work DIR [--token TOKEN]
                       [--tls-cert CERT --tls-key KEY] [--signed-url] [MISBEHAVIOUR...]

Misbehaviours, for the agent_net.sh tests (each logged to OUT.debuginfo when it happens):
  --signed-url-template URL  the signed URL of the i-th InitiateUpload is the i-th of these
                             (repeatable, cycled; {put} is the PUT server's port, {id} the
                             upload id): file://, ftp://... to see that the agent refuses them
  --put-redirects N[,N...]   the i-th upload's PUT is redirected (307) N times before it is
                             taken; --put-redirect-url URL: once, to URL
  --stall-put                the PUT server reads the request head and never answers
  --stall-upload             the Upload stream is accepted and never answered
  --big-response BYTES       WriteRaw answers with a message of BYTES bytes

For agent_poison.sh: a store that refuses one message, or all, with INTERNAL (the code grpcio
and grpc-go give a request they cannot decode), each refusal logged to OUT.refused as
{"nth": N, "time_nanos": T} (N: the request's rank among the distinct requests seen):
  --refuse-nth N             the N-th distinct WriteRaw request, every time it comes
  --refuse-all               every WriteRaw request
"""
import argparse
import gzip
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc


def generate_stubs(proto_dir, work):
    """protoc --python_out for profile.proto (pprof) and the Parca protos, into work/."""
    subprocess.run(["protoc", "--proto_path=" + proto_dir, "--python_out=" + work,
                    os.path.join(proto_dir, "profile.proto"),
                    os.path.join(proto_dir, "parca.proto"),
                    os.path.join(proto_dir, "parca_debuginfo.proto"),
                    os.path.join(proto_dir, "parca_query.proto")], check=True)
    sys.path.insert(0, work)


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_query(query):
    """Parca's selector: NAME:TYPE...{label="v", label=~"re", label!="v"}. The name before
    the first ':' is the series' __name__; equality, inequality and regular-expression
    matchers on the labels (what the tests use)."""
    name, brace, rest = query.partition("{")
    matchers = []
    if brace:
        if not rest.endswith("}"):
            raise ValueError("unclosed {")
        rest = rest[:-1]
        pos = 0
        while pos < len(rest):
            m = MATCHER.match(rest, pos)
            if not m:
                raise ValueError("bad matcher at %r" % rest[pos:])
            matchers.append((m.group(1), m.group(2), m.group(3).replace('\\"', '"')))
            pos = m.end()
    return name.split(":")[0].strip(), matchers


def series_matches(labels, name, matchers):
    if labels.get("__name__") != name:
        return False
    for key, op, value in matchers:
        have = labels.get(key, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have):
            return False
    return True


def merge_profiles(profile_pb2, profiles):
    """One pprof of several: strings, mappings, functions and locations renumbered, samples
    appended (their values summed by the reader), the earliest time, the durations summed."""
    out = profile_pb2.Profile()
    out.string_table.append("")
    strings = {"": 0}

    def s(p, i):
        text = p.string_table[i]
        if text not in strings:
            strings[text] = len(out.string_table)
            out.string_table.append(text)
        return strings[text]

    first = profiles[0]
    for t in first.sample_type:
        out.sample_type.add(type=s(first, t.type), unit=s(first, t.unit))
    out.period_type.type = s(first, first.period_type.type)
    out.period_type.unit = s(first, first.period_type.unit)
    out.period = first.period
    out.time_nanos = min(p.time_nanos for p in profiles)
    out.duration_nanos = sum(p.duration_nanos for p in profiles)
    for p in profiles:
        mids, fids, lids = {}, {}, {}
        for m in p.mapping:
            n = out.mapping.add()
            n.CopyFrom(m)
            n.id = len(out.mapping)
            n.filename = s(p, m.filename)
            n.build_id = s(p, m.build_id)
            mids[m.id] = n.id
        for f in p.function:
            n = out.function.add(id=len(out.function) + 1, name=s(p, f.name),
                                 system_name=s(p, f.system_name), filename=s(p, f.filename),
                                 start_line=f.start_line)
            fids[f.id] = n.id
        for loc in p.location:
            n = out.location.add(id=len(out.location) + 1, mapping_id=mids.get(loc.mapping_id, 0),
                                 address=loc.address, is_folded=loc.is_folded)
            for line in loc.line:
                n.line.add(function_id=fids.get(line.function_id, 0), line=line.line)
            lids[loc.id] = n.id
        for smp in p.sample:
            n = out.sample.add(location_id=[lids[i] for i in smp.location_id], value=smp.value)
            for lb in smp.label:
                n.label.add(key=s(p, lb.key), str=s(p, lb.str) if lb.str else 0, num=lb.num,
                            num_unit=s(p, lb.num_unit) if lb.num_unit else 0)
    return out


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
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--signed-url", action="store_true",
                    help="debuginfo uploads by HTTP PUT to a URL of a second server")
    ap.add_argument("--signed-url-template", action="append", default=[])
    ap.add_argument("--put-redirects", default="0")
    ap.add_argument("--put-redirect-url")
    ap.add_argument("--stall-put", action="store_true")
    ap.add_argument("--stall-upload", action="store_true")
    ap.add_argument("--big-response", type=int, default=0)
    ap.add_argument("--refuse-nth", type=int, default=0)
    ap.add_argument("--refuse-all", action="store_true")
    ap.add_argument("--save-dir", help="also write each accepted profile there (NNNNNN.pb)")
    args = ap.parse_args()
    if args.signed_url_template or args.stall_put or args.put_redirect_url:
        args.signed_url = True
    redirects = [int(n) for n in args.put_redirects.split(",")]
    generate_stubs(args.proto_dir, args.work)
    import parca_debuginfo_pb2 as dbg
    import parca_pb2
    import parca_query_pb2
    import profile_pb2

    lock = threading.Lock()
    counter = [0]
    saved = [0]
    distinct = {}  # sha256 of a request -> its rank among the distinct ones
    stored = []  # (labels, profile) of every accepted series sample, for QueryService
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
        accepted = []
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
                if args.save_dir:
                    with lock:
                        saved[0] += 1
                        path = os.path.join(args.save_dir, "%06d.pb" % saved[0])
                    with open(path, "wb") as f:
                        f.write(data)
                why = check_pprof(prof)
                if why:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid profile: " + why)
                accepted.append((labels, prof))
                names = sorted({prof.string_table[f.name] for f in prof.function})
                summary.append({
                    "labels": labels,
                    "samples": sum(s.value[0] for s in prof.sample),
                    "sample_types": ["%s/%s" % (prof.string_table[t.type],
                                                prof.string_table[t.unit])
                                     for t in prof.sample_type],
                    "period": prof.period,
                    "period_type": "%s/%s" % (prof.string_table[prof.period_type.type],
                                              prof.string_table[prof.period_type.unit]),
                    "time_nanos": prof.time_nanos,
                    "duration_nanos": prof.duration_nanos,
                    "functions": names,
                })
        key = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
        with lock:
            nth = distinct.setdefault(key, len(distinct) + 1)
        if args.refuse_all or nth == args.refuse_nth:
            with lock:
                with open(args.out + ".refused", "a") as f:
                    f.write(json.dumps({"nth": nth, "time_nanos": summary[0]["time_nanos"]
                                        if summary else 0}) + "\n")
            context.abort(grpc.StatusCode.INTERNAL, "refused on purpose")
        with lock:
            stored.extend(accepted)
            counter[0] += 1
            with open(args.out, "a") as f:
                # the client's address and port: one per connection
                f.write(json.dumps({"n": counter[0], "peer": context.peer(),
                                    "series": summary}) + "\n")
        return parca_pb2.WriteRawResponse()

    def write_raw_response(response):
        if not args.big_response:
            return response.SerializeToString()
        # field 15, length-delimited: a valid message of the size asked for, which a
        # client that does not bound responses takes whole
        n = args.big_response - 5
        length = bytearray()
        while True:
            length.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
            n >>= 7
            if not n:
                break
        return b"\x7a" + bytes(length) + b"x" * (args.big_response - 1 - len(length))

    handler = grpc.method_handlers_generic_handler(
        "parca.profilestore.v1alpha1.ProfileStoreService",
        {"WriteRaw": grpc.unary_unary_rpc_method_handler(
            write_raw,
            request_deserializer=parca_pb2.WriteRawRequest.FromString,
            response_serializer=write_raw_response)})
    def query(request, context):
        """MERGE of the series the selector matches, over [start, end) by each profile's
        time_nanos, as one pprof (gzip); NOT_FOUND when nothing matches, as Parca does."""
        if args.token is not None:
            md = dict(context.invocation_metadata())
            if md.get("authorization") != "Bearer " + args.token:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad bearer token")
        if (request.mode != parca_query_pb2.QueryRequest.MODE_MERGE or
                request.report_type != parca_query_pb2.QueryRequest.REPORT_TYPE_PPROF):
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "only MERGE and PPROF here")
        try:
            name, matchers = parse_query(request.merge.query)
        except (ValueError, re.error) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad query: %s" % e)
        start = request.merge.start.seconds * 10**9 + request.merge.start.nanos
        end = request.merge.end.seconds * 10**9 + request.merge.end.nanos
        with lock:
            chosen = [p for labels, p in stored
                      if series_matches(labels, name, matchers) and start <= p.time_nanos < end]
            with open(args.out + ".queries", "a") as f:
                f.write(json.dumps({"query": request.merge.query, "start": start, "end": end,
                                    "profiles": len(chosen)}) + "\n")
        if not chosen:
            context.abort(grpc.StatusCode.NOT_FOUND, "no profiles in the range")
        merged = merge_profiles(profile_pb2, chosen)
        return parca_query_pb2.QueryResponse(
            pprof=gzip.compress(merged.SerializeToString()),
            total=sum(smp.value[0] for smp in merged.sample))

    queries = grpc.method_handlers_generic_handler(
        "parca.query.v1alpha1.QueryService",
        {"Query": grpc.unary_unary_rpc_method_handler(
            query, request_deserializer=parca_query_pb2.QueryRequest.FromString,
            response_serializer=parca_query_pb2.QueryResponse.SerializeToString)})
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
    hops = {}  # upload id -> redirects made
    if args.signed_url:
        class PutHandler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                upload_id = self.path.rsplit("/", 1)[-1]
                if args.stall_put:
                    log_call("PUT-stalled", path=self.path)
                    while True:
                        time.sleep(60)
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                order = list(uploads).index(upload_id) if upload_id in uploads else 0
                want = redirects[order % len(redirects)]
                made = hops.get(upload_id, 0)
                if args.put_redirect_url and not made or made < want:
                    hops[upload_id] = made + 1
                    where = args.put_redirect_url if args.put_redirect_url else \
                        "/hop%d/%s" % (made + 1, upload_id)
                    log_call("PUT-redirect", path=self.path, location=where)
                    self.send_response(307)
                    self.send_header("Location", where)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                build_id, size = uploads.get(upload_id, (None, None))
                if build_id is None or len(data) != size:
                    self.send_response(400)
                    self.end_headers()
                    return
                with open(os.path.join(store, build_id), "wb") as f:
                    f.write(data)
                log_call("PUT", build_id=build_id, size=len(data), path=self.path,
                         authorization=self.headers.get("Authorization"))
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
            if args.signed_url_template:
                t = args.signed_url_template[(len(uploads) - 1) % len(args.signed_url_template)]
                url = t.replace("{put}", str(put_server.server_address[1])).replace(
                    "{id}", upload_id)
            return dbg.InitiateUploadResponse(upload_instructions=dbg.UploadInstructions(
                build_id=request.build_id, upload_id=upload_id, signed_url=url,
                upload_strategy=dbg.UploadInstructions.UPLOAD_STRATEGY_SIGNED_URL))
        return dbg.InitiateUploadResponse(upload_instructions=dbg.UploadInstructions(
            build_id=request.build_id, upload_id=upload_id,
            upload_strategy=dbg.UploadInstructions.UPLOAD_STRATEGY_GRPC))

    def upload(request_iterator, context):
        if args.stall_upload:
            log_call("Upload-stalled")
            while context.is_active():
                time.sleep(0.2)
            log_call("Upload-cancelled")
            return dbg.UploadResponse()
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
    server.add_generic_rpc_handlers((handler, debuginfo, queries))
    address = f"127.0.0.1:{args.port}"
    if args.tls_cert:
        # --tls-client-ca: mutual TLS, a client certificate signed by that CA required
        creds = grpc.ssl_server_credentials(
            [(open(args.tls_key, "rb").read(), open(args.tls_cert, "rb").read())],
            root_certificates=open(args.tls_client_ca, "rb").read()
            if args.tls_client_ca else None,
            require_client_auth=bool(args.tls_client_ca))
        server.add_secure_port(address, creds)
    else:
        server.add_insecure_port(address)
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
