"""tests/cdp.py: drive a headless Chromium through its DevTools protocol.

The protocol runs over --remote-debugging-pipe: the browser reads commands
from its fd 3 and writes answers and events to its fd 4, each message one
JSON object ended by a NUL byte. Only Python's standard library is used.

    b = Browser(tmpdir)          # starts chromium, attaches to its page
    b.goto(url)                  # navigate, wait for the load event
    b.eval("document.title")     # a JavaScript expression's value
    b.submit("#login", {"name": "alice", "password": "x"})
    b.click("form.act button")   # and wait for the page it loads
    b.wait_for("expr", 5.0)      # poll until expr is truthy
    png = b.screenshot(width)    # PNG bytes of the whole page
    b.close()                    # the browser killed, always

png_stats(png) decodes a PNG (8-bit RGB or RGBA, zlib from the standard
library) and says how many pixels are not white and how many colours it
has: a blank page has one colour.

Run as a program, a check by hand that the browser starts:
    python3 tests/cdp.py probe          exit 0 if chromium starts
"""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib


class CDPError(Exception):
    pass


def chromium_path():
    """The browser binary: $CHROMIUM, else chromium on $PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    def __init__(self, tmpdir, width=1000, height=800, timeout=30.0):
        path = chromium_path()
        if path is None:
            raise CDPError("no chromium on PATH")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium.", dir=tmpdir)
        self.log = open(os.path.join(tmpdir, "chromium.log"), "ab")
        args = [
            path,
            "--headless",
            "--remote-debugging-pipe",
            "--user-data-dir=" + self.profile,
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=%d,%d" % (width, height),
            "about:blank",
        ]
        # The sandbox needs user namespaces that root in a container lacks;
        # a normal user keeps it.
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        cmd_r, self.cmd_w = os.pipe()  # our commands: the browser's fd 3
        self.evt_r, evt_w = os.pipe()  # its answers: its fd 4

        def fds():
            # Move both ends above 10 first: dup2 onto 3 must not close
            # the other end if the kernel had given it number 3 or 4.
            hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            hi_w = fcntl.fcntl(evt_w, fcntl.F_DUPFD, 10)
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
            os.setsid()  # its own group: close() kills every process

        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=fds,
            pass_fds=(3, 4),
        )
        os.close(cmd_r)
        os.close(evt_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    # --- the wire
    def _send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.cmd_w, data) :]
        return self.next_id

    def _read(self, deadline):
        """One message, or None when the deadline passed."""
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.evt_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.evt_r, 1 << 20)
            if not chunk:
                raise CDPError("chromium closed its pipe (see chromium.log)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=None):
        """Send a command, return its result; events met are queued."""
        mid = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read(deadline)
            if msg is None:
                raise CDPError("%s: no answer in time" % method)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                del self.events[:-1000]  # the newest kept

    def wait_event(self, method, timeout=None):
        """The first queued or coming event METHOD of our session."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method and e.get("sessionId") == self.session:
                    return self.events.pop(i)
            msg = self._read(deadline)
            if msg is None:
                raise CDPError("no %s in time" % method)
            if "method" in msg:
                self.events.append(msg)

    def _attach(self):
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        if pages:
            tid = pages[0]["targetId"]
        else:
            tid = self.call(
                "Target.createTarget", {"url": "about:blank"}, session=False
            )["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": tid, "flatten": True}, session=False
        )["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    # --- what tests use
    def eval(self, expr, timeout=None):
        """The value of a JavaScript expression (promises awaited)."""
        r = self.call(
            "Runtime.evaluate",
            {"expression": expr, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("JS: %s" % d.get("exception", {}).get("description", d))
        return r["result"].get("value")

    def _loaded_after(self, action):
        """Do ACTION, then wait until a new document has loaded: the old
        one carries a mark the new one lacks (load events may come late
        for an earlier page)."""
        self.eval("window.__cdp_old = true")
        action()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if self.eval(
                    "!window.__cdp_old && document.readyState === 'complete'"
                ):
                    return
            except CDPError:
                pass  # between two documents: no context to evaluate in
            time.sleep(0.02)
        raise CDPError("no new page loaded in time")

    def goto(self, url):
        """Navigate to URL and wait for its load event."""

        def nav():
            r = self.call("Page.navigate", {"url": url})
            if r.get("errorText"):
                raise CDPError("navigate %s: %s" % (url, r["errorText"]))

        self._loaded_after(nav)
        return self.eval("location.href")

    def click(self, selector):
        """Click the element SELECTOR and wait for the page it loads."""
        sel = json.dumps(selector)
        self._loaded_after(
            lambda: self.eval(
                "(() => { const e = document.querySelector(%s);"
                " if (!e) throw new Error('no element ' + %s);"
                " e.click(); return true; })()" % (sel, sel)
            )
        )
        return self.eval("location.href")

    def submit(self, form, fields):
        """Fill the named fields of the form FORM, press its submit button
        as a user would, and wait for the page that answers."""
        js = (
            "(() => { const f = document.querySelector(%s);"
            " if (!f) throw new Error('no form');"
            " const v = %s;"
            " for (const k in v) f.elements[k].value = v[k];"
            " f.querySelector('button, input[type=submit]').click();"
            " return true; })()" % (json.dumps(form), json.dumps(fields))
        )
        self._loaded_after(lambda: self.eval(js))
        return self.eval("location.href")

    def wait_for(self, expr, timeout=5.0, interval=0.01):
        """Poll EXPR until truthy; return (value, seconds waited)."""
        t0 = time.monotonic()
        while True:
            v = self.eval(expr)
            if v:
                return v, time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                return v, time.monotonic() - t0
            time.sleep(interval)

    def screenshot(self, width=None, height=800, mobile=False, selector=None,
                   max_height=None):
        """PNG bytes of the whole page at WIDTH CSS pixels (its top
        MAX_HEIGHT pixels), or only of the element SELECTOR."""
        if width:
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": mobile,
                },
            )
        if selector:
            r = self.eval(
                "(() => { const e = document.querySelector(%s);"
                " if (!e) throw new Error('no element');"
                " const r = e.getBoundingClientRect();"
                " return [r.left + scrollX, r.top + scrollY, r.width, r.height];"
                " })()" % json.dumps(selector)
            )
        else:
            r = [0, 0, self.eval("innerWidth"),
                 self.eval("document.documentElement.scrollHeight")]
        if max_height:
            r[3] = min(r[3], max_height)
        clip = {"x": r[0], "y": r[1], "width": max(r[2], 1),
                "height": max(r[3], 1), "scale": 1}
        r = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        return base64.b64decode(r["data"])

    def close(self):
        """Kill the browser's process group and reap it."""
        if getattr(self, "proc", None) and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "proc", None):
            self.proc.wait()
        for fd in (getattr(self, "cmd_w", None), getattr(self, "evt_r", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.cmd_w = self.evt_r = None
        shutil.rmtree(self.profile, ignore_errors=True)
        self.log.close()


def png_stats(png, colour=None):
    """(width, height, pixels not white, distinct colours, pixels of
    COLOUR (r, g, b)) of an 8-bit RGB or RGBA PNG, non-interlaced, as
    Chromium writes them."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("PNG depth %d type %d interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, nonwhite, exact = set(), 0, 0
    want = bytes(colour) if colour else None
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        for x in range(0, stride, bpp):
            px = bytes(line[x : x + 3])
            colours.add(px)
            if px != b"\xff\xff\xff":
                nonwhite += 1
            if px == want:
                exact += 1
        prev = line
    return w, h, nonwhite, len(colours), exact


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        d = tempfile.mkdtemp()
        try:
            b = Browser(d)
            ok = b.eval("1 + 1") == 2
            b.close()
        except CDPError as e:
            print("chromium does not start: %s" % e)
            sys.exit(1)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        sys.exit(0 if ok else 1)
    print(__doc__)
    sys.exit(2)
