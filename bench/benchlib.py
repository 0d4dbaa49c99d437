"""Helpers the Python benchmarks share (bench/controlplane, bench/recovery):
a `stuurman server` on a data dir with an HTTPS client for its API, a
Podman service of its own, and a process's memory from /proc. Not a
benchmark itself (not executable, so ci/bench skips it).
"""
import http.client
import json
import os
import signal
import ssl
import subprocess
import time


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True,
                          **kw)


def proc_mem(pid):
    v = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                v[k] = int(rest.split()[0]) / 1024.0
    return v


class Server:
    """`stuurman server --data DATA` on 127.0.0.1:PORT, ready to call."""

    def __init__(self, stuurman, data, port, log, args=()):
        self.data = data
        self.port = port
        self.log = open(log, "a")
        # SERVER_WRAP: a command to run the server under, e.g.
        # "heaptrack -o FILE" (its memory figures are then the wrapper's).
        wrap = os.environ.get("SERVER_WRAP", "").split()
        self.proc = subprocess.Popen(
            wrap + [stuurman, "server", "--data", data, "--listen",
                    "127.0.0.1:%d" % port] + list(args),
            stdout=self.log, stderr=self.log)
        t0 = time.monotonic()
        tok = os.path.join(data, "pki", "token")
        while True:
            try:
                if os.path.getsize(tok) > 0:
                    self.token = open(tok).read().strip()
                    self.ctx = ssl.create_default_context(
                        cafile=os.path.join(data, "pki", "ca.crt"))
                    self.call("GET", "/version")
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() - t0 > 20 or self.proc.poll() is not None:
                raise RuntimeError("the server did not start; see "
                                   + self.log.name)
            time.sleep(0.05)

    def conn(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=self.ctx, timeout=30)

    def call(self, method, path, body=None, ctype="application/json",
             conn=None):
        c = conn or self.conn()
        hdr = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdr["Content-Type"] = ctype
        c.request(method, path, body=data, headers=hdr)
        r = c.getresponse()
        text = r.read()
        if conn is None:
            c.close()
        if r.status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status,
                                                 text[:200]))
        return json.loads(text) if text.startswith(b"{") else text

    def server_pid(self):
        """The server's own pid: the child that runs stuurman under a
        SERVER_WRAP command, else the process started."""
        pending = [self.proc.pid]
        while pending:
            pid = pending.pop()
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
                if argv[0].endswith(b"stuurman") and b"server" in argv:
                    return pid
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    pending += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.server_pid(), signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()



class Podman:
    """`stuurman podman start` in WORK, with its own image store there."""

    def __init__(self, stuurman, work):
        self.stuurman = stuurman
        self.data = os.path.join(work, "data")
        out = run(stuurman, "podman", "start", "--data", self.data, "--env",
                  "--storage", os.path.join(work, "storage")).stdout
        self.sock = out.split("=", 1)[1].strip().strip("'\"")
        self.url = "unix://" + self.sock
        run(stuurman, "images", "--podman-socket", self.sock)

    def podman(self, *args, check=True):
        return run("podman", "--url", self.url, *args, check=check)

    def remove_pods(self, label=None):
        f = ["--filter", "label=" + label] if label else []
        ids = self.podman("pod", "ps", "-q", *f).stdout.split()
        if ids:
            self.podman("pod", "rm", "-f", "-t", "0", *ids, check=False)
        return len(ids)

    def stop(self):
        self.remove_pods()
        ids = self.podman("ps", "-aq").stdout.split()
        if ids:
            self.podman("rm", "-f", "-t", "0", *ids, check=False)
        run(self.stuurman, "podman", "stop", "--data", self.data,
            check=False)


def jansson_heap(texts):
    """Bytes of heap (glibc malloc, as mallinfo2 counts them) that
    libjansson's trees of TEXTS (JSON documents) take, measured by loading
    them all here through ctypes: what the store's copies of those objects
    weigh, before the allocator's own overhead."""
    import ctypes
    import ctypes.util

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    jl = ctypes.CDLL(ctypes.util.find_library("jansson") or "libjansson.so.4")
    jl.json_loads.restype = ctypes.c_void_p
    jl.json_loads.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                              ctypes.c_void_p]
    jl.json_delete.argtypes = [ctypes.c_void_p]
    raw = [t.encode() for t in texts]
    err = ctypes.create_string_buffer(1024)
    before = libc.mallinfo2()
    trees = [jl.json_loads(r, 0, err) for r in raw]
    after = libc.mallinfo2()
    used = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd)
    for t in trees:
        if t:
            jl.json_delete(t)  # refcount 1: json_decref's slow path
    return used
