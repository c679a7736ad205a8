#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the storage tests.

Forwards requests to an upstream Blob service (Azurite) unchanged, so that
signatures stay valid, and breaks every other one in turn: 503 with
Retry-After, 500, a connection reset in the middle of the response body, a
stall, and a truncated response. Counts what it injected in a file, so the
test can check that every kind of fault happened.

usage: faultproxy.py UPSTREAM_PORT PORT_FILE STATS_FILE
"""
import http.client
import json
import socket
import socketserver
import struct
import sys
import threading
import time

UPSTREAM = int(sys.argv[1])
FAULTS = ["503", "500", "reset", "stall", "truncate"]
lock = threading.Lock()
state = {"requests": 0, "injected": {f: 0 for f in FAULTS}}


def next_fault():
    with lock:
        n = state["requests"]
        state["requests"] += 1
        if n % 2 == 0:
            return None
        fault = FAULTS[(n // 2) % len(FAULTS)]
        state["injected"][fault] += 1
        with open(sys.argv[3], "w") as f:
            json.dump(state, f)
        return fault


def read_request(rfile):
    line = rfile.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    length = 0
    while True:
        h = rfile.readline().decode("latin-1")
        if h in ("\r\n", "\n", ""):
            break
        name, value = h.split(":", 1)
        headers.append((name.strip(), value.strip()))
        if name.strip().lower() == "content-length":
            length = int(value)
    body = rfile.read(length) if length else b""
    return method, path, headers, body


def forward(method, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    head = "HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason)
    for name, value in resp.getheaders():
        if name.lower() not in ("content-length", "transfer-encoding", "connection"):
            head += "%s: %s\r\n" % (name, value)
    head += "Content-Length: %d\r\n\r\n" % len(data)
    conn.close()
    return head.encode("latin-1"), data


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            req = read_request(self.rfile)
            if req is None:
                return
            fault = next_fault()
            if fault == "503":
                self.wfile.write(b"HTTP/1.1 503 Server Busy\r\nRetry-After: 1\r\n"
                                 b"x-ms-error-code: ServerBusy\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                continue
            if fault == "500":
                self.wfile.write(b"HTTP/1.1 500 Internal Error\r\n"
                                 b"x-ms-error-code: InternalError\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                continue
            if fault == "stall":
                time.sleep(2)
            head, data = forward(*req)
            if fault in ("reset", "truncate"):
                # Half the body; without a body, half the header.
                whole = head + data
                cut = len(head) + len(data) // 2 if data else len(head) // 2
                self.wfile.write(whole[:cut])
                self.wfile.flush()
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                return
            self.wfile.write(head + data)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[2], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
