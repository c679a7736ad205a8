#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the storage tests.

Forwards requests to an upstream Blob service (Azurite) unchanged, so that
signatures stay valid, and answers some of them badly, as MODE says:

  alternate (default)  every other request in turn: 503 with Retry-After,
                       500, a connection reset in the middle of the response
                       body, a 2 s stall, a truncated response
  retry-after=VALUE    every request: 503 with "Retry-After: VALUE"
  hang                 every request: read, never answered
  trickle              every GET: 200 with Content-Length 1 MB, the body
                       sent at 5 KiB/s (above curl's low-speed limit)
  huge                 every GET: 200 with Content-Length 100 MiB
  huge-chunked         every GET: 200, a chunked body of zeros that never ends
  bad-length           every GET: 200 with "Content-Length: 12abc"
  list-repeat          List Blobs: every page's NextMarker is the same
  list-endless         List Blobs: every page has a new name and a new marker
  list-bad=KIND        List Blobs: a malformed page (see BAD_PAGES)

Other requests are forwarded. Counts requests and what it injected in
STATS_FILE (JSON), so that the tests can check what happened.

usage: faultproxy.py UPSTREAM_PORT PORT_FILE STATS_FILE [MODE]
"""
import http.client
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

UPSTREAM = int(sys.argv[1])
MODE = sys.argv[4] if len(sys.argv) > 4 else "alternate"
FAULTS = ["503", "500", "reset", "stall", "truncate"]
lock = threading.Lock()
state = {"mode": MODE, "requests": 0, "lists": 0,
         "injected": {f: 0 for f in FAULTS}}


def save_stats():
    with open(sys.argv[3], "w") as f:
        json.dump(state, f)


def count(key=None):
    """Counts a request (and one more of key); returns the request number."""
    with lock:
        n = state["requests"]
        state["requests"] += 1
        if key:
            state[key] = state.get(key, 0) + 1
        save_stats()
        return n


def next_fault():
    n = count()
    if n % 2 == 0:
        return None
    with lock:
        fault = FAULTS[(n // 2) % len(FAULTS)]
        state["injected"][fault] += 1
        save_stats()
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


def page(prefix, names, marker, root="EnumerationResults", extra=""):
    """A List Blobs page as Azure writes it."""
    blobs = "".join("<Blob><Name>%s</Name><Properties/></Blob>" % n
                    for n in names)
    nm = "<NextMarker>%s</NextMarker>" % marker if marker is not None else ""
    return ('<?xml version="1.0" encoding="utf-8"?>%s<%s ContainerName="c">'
            "<Prefix>%s</Prefix><Blobs>%s</Blobs>%s</%s>"
            % (extra, root, escape(prefix), blobs, nm, root)).encode()


# Malformed List Blobs pages, by kind: each must be refused with a clear
# error (the test checks the message).
BAD_PAGES = {
    "notxml": lambda p: b"this is not XML <EnumerationResults>",
    "root": lambda p: page(p, [escape(p) + "x"], None, root="Other"),
    "noname": lambda p: page(p, [], None).replace(
        b"<Blobs>", b"<Blobs><Blob><Properties/></Blob>"),
    "empty-name": lambda p: page(p, [""], None),
    "control": lambda p: page(p, [escape(p) + "a&#9;b"], None),
    "long-name": lambda p: page(p, [escape(p) + "n" * 2000], None),
    "outside": lambda p: page(p, ["elsewhere/step-1"], None),
    "long-marker": lambda p: page(p, [escape(p) + "x"], "m" * 2000),
    "dtd": lambda p: page(p, [escape(p) + "&e;"], None,
                          extra='<!DOCTYPE EnumerationResults '
                                '[<!ENTITY e "entity">]>'),
    "two-blobs": lambda p: page(p, [], None).replace(
        b"</Blobs>", b"</Blobs><Blobs/>"),
}


def list_page(path):
    """The page list-* modes answer a List Blobs request with."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    prefix = q.get("prefix", [""])[0]
    marker = q.get("marker", [""])[0]
    n = count("lists")
    if MODE == "list-repeat":
        return page(prefix, [escape(prefix) + "repeat-%d" % n], "again")
    if MODE == "list-endless":
        return page(prefix, [escape(prefix) + "endless-%d" % n],
                    "next-%d-after-%s" % (n, marker[-8:]))
    return BAD_PAGES[MODE.split("=", 1)[1]](prefix)


class Handler(socketserver.StreamRequestHandler):
    def send(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            return False

    def endless(self, head, piece, pause, seconds=120):
        """Sends head, then piece every pause seconds until the client
        hangs up (or seconds pass)."""
        end = time.time() + seconds
        ok = self.send(head)
        while ok and time.time() < end:
            ok = self.send(piece)
            time.sleep(pause)

    def alternate(self, req):
        fault = next_fault()
        if fault == "503":
            return self.send(b"HTTP/1.1 503 Server Busy\r\nRetry-After: 1\r\n"
                             b"x-ms-error-code: ServerBusy\r\n"
                             b"Content-Length: 0\r\n\r\n")
        if fault == "500":
            return self.send(b"HTTP/1.1 500 Internal Error\r\n"
                             b"x-ms-error-code: InternalError\r\n"
                             b"Content-Length: 0\r\n\r\n")
        if fault == "stall":
            time.sleep(2)
        head, data = forward(*req)
        if fault in ("reset", "truncate"):
            # Half the body; without a body, half the header.
            whole = head + data
            cut = len(head) + len(data) // 2 if data else len(head) // 2
            self.send(whole[:cut])
            if fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            return False
        return self.send(head + data)

    def get_fault(self):
        """Answers a GET as the mode says; False: the connection is done."""
        count()
        if MODE == "trickle":
            self.endless(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n",
                         b"x" * 512, 0.1)
        elif MODE == "huge":
            self.endless(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n",
                         bytes(1 << 20), 0)
        elif MODE == "huge-chunked":
            chunk = b"100000\r\n" + bytes(1 << 20) + b"\r\n"
            self.endless(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                         chunk, 0)
        elif MODE == "bad-length":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n"
                      b"twelve bytes")
        return False

    def handle(self):
        while True:
            req = read_request(self.rfile)
            if req is None:
                return
            method, path = req[0], req[1]
            is_list = method == "GET" and "comp=list" in path
            if MODE == "alternate":
                keep = self.alternate(req)
            elif MODE.startswith("retry-after="):
                count()
                keep = self.send(("HTTP/1.1 503 Server Busy\r\nRetry-After: %s\r\n"
                                  "x-ms-error-code: ServerBusy\r\n"
                                  "Content-Length: 0\r\n\r\n"
                                  % MODE.split("=", 1)[1]).encode("latin-1"))
            elif MODE == "hang":
                count()
                time.sleep(300)
                keep = False
            elif MODE.startswith("list-") and is_list:
                body = list_page(path)
                keep = self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml"
                                 b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            elif method == "GET" and not MODE.startswith("list-"):
                keep = self.get_fault()
            else:
                count()
                head, data = forward(*req)
                keep = self.send(head + data)
            if not keep:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
save_stats()
with open(sys.argv[2], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
