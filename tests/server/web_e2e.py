"""Browser test of the web page of `facekit serve` (run by test_web.sh).

Starts build/facekit serve on loopback with a temporary gallery, then
Debian's headless chromium on the page, driven over the DevTools protocol
(a websocket; the small client below needs nothing beyond the standard
library). Like a user it:

  * drops two photos on the Verify tab (DOM.setFileInputFiles), clicks
    Verify and waits for the verdict, and checks boxes are drawn on both;
  * analyzes a group photo (a card per face);
  * registers two faces and searches a group photo in the gallery;
  * verifies live from the camera: chromium's fake camera plays a .y4m clip
    made at test time from face crops of two real photos (face-api's demo
    photos in the model home) of the same woman, the page is given one of
    those photos, and the verdict must be "verified".

Screenshots at a desktop (1280x900) and a phone (390x844) viewport go to
<build>/test-web/; with FK_WEB_DOCS=1 four of them are also written to
docs/img/ for the README (as JPEG). Exit 77 (skip) without chromium, ffmpeg
or the demo photos.
"""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

CLI = os.environ.get("FK_CLI", "build/facekit")
SRC = os.environ.get("FK_SOURCE_DIR", os.getcwd())
HOME = os.environ.get("FACEKIT_HOME", os.path.expanduser("~/.facekit"))
FACES = os.path.join(HOME, "face-api")
S1, S3 = os.path.join(FACES, "sample1.jpg"), os.path.join(FACES, "sample3.jpg")
OUT = os.path.join(os.path.dirname(os.path.abspath(CLI)), "test-web")


def skip(why):
    print("skip: " + why)
    sys.exit(77)


CHROMIUM = next((shutil.which(c) for c in ("chromium", "chromium-browser") if shutil.which(c)), None)
if not CHROMIUM:
    skip("chromium is not installed (make deps-test)")
if not shutil.which("ffmpeg"):
    skip("ffmpeg is not installed (make deps-test); it makes the camera clip")
if not all(os.path.exists(p) for p in (S1, S3)):
    skip(f"no demo photos in {FACES} (facekit models fetch)")

failures = 0
T0 = time.time()


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures += 1
    return cond


# ---- the server --------------------------------------------------------------

T = tempfile.mkdtemp(prefix="fk-web-")
servers = []


def start_server(name, *args):
    """facekit serve on a free port; returns its base URL."""
    err_path = os.path.join(T, name + ".err")
    p = subprocess.Popen([CLI, "serve", "--port", "0", "--workers", "1", *args],
                         stdout=subprocess.DEVNULL, stderr=open(err_path, "w"))
    servers.append(p)
    for _ in range(600):
        time.sleep(0.05)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", open(err_path).read())
        if m:
            return m.group(1)
        if p.poll() is not None:
            break
    print(open(err_path).read())
    if "serve is not built" in open(err_path).read():
        skip("facekit was built without the server (libmicrohttpd-dev)")
    raise SystemExit("FAIL the server did not start")


BASE = start_server("serve", "--db", os.path.join(T, "gallery.db"))


def post_json(path, body):
    req = urllib.request.Request(BASE + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


# ---- photos and the camera clip ---------------------------------------------------

def faces_of(path):
    """The faces the server finds in a photo, largest first."""
    res = post_json("/represent", {"img": b64(path)})["results"]
    return sorted((r["facial_area"] for r in res), key=lambda a: -a["w"] * a["h"])


def size_of(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    w, h = out.strip().split(",")[:2]
    return int(w), int(h)


def crop_box(area, img_w, img_h, grow, aspect):
    """A box of the given aspect around a face, grown `grow` times its
    height, kept inside the image; even numbers (I420 wants them)."""
    cx, cy = area["x"] + area["w"] / 2, area["y"] + area["h"] / 2
    h = min(img_h, area["h"] * grow)
    w = min(img_w, h * aspect)
    h = w / aspect
    x = min(max(0, cx - w / 2), img_w - w)
    y = min(max(0, cy - h / 2.2), img_h - h)
    ev = lambda v: int(v) // 2 * 2
    return ev(w), ev(h), ev(x), ev(y)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


W, H = 640, 480
a1, a3 = faces_of(S1), faces_of(S3)
check(len(a1) >= 2 and len(a3) >= 1, f"the demo photos hold faces ({len(a1)} and {len(a3)})")
sz1, sz3 = size_of(S1), size_of(S3)
# Face crops to register: the largest face of sample1 (the woman on the
# right, who is also the largest face of sample3) and its second face.
ALICE, BEA = os.path.join(T, "alice.jpg"), os.path.join(T, "bea.jpg")
for dst, area in ((ALICE, a1[0]), (BEA, a1[1])):
    w, h, x, y = crop_box(area, *sz1, 1.9, 0.8)
    ffmpeg("-i", S1, "-vf", f"crop={w}:{h}:{x}:{y}", "-q:v", "3", dst)
# The clip: her face from both photos, 4:3, as raw I420 frames.
raws = []
for src, area, size in ((S1, a1[0], sz1), (S3, a3[0], sz3)):
    w, h, x, y = crop_box(area, *size, 2.4, W / H)
    raw = os.path.join(T, f"frame{len(raws)}.yuv")
    ffmpeg("-i", src, "-vf", f"crop={w}:{h}:{x}:{y},scale={W}:{H}", "-pix_fmt", "yuv420p",
           "-f", "rawvideo", raw)
    raws.append(open(raw, "rb").read())
CLIP = os.path.join(T, "camera.y4m")
with open(CLIP, "wb") as f:
    # YUV4MPEG2: one header line, then "FRAME\n" and the Y, U, V planes.
    f.write(f"YUV4MPEG2 W{W} H{H} F10:1 Ip A1:1 C420jpeg\n".encode())
    for raw in raws:
        for _ in range(10):
            f.write(b"FRAME\n" + raw)


# ---- chromium and the DevTools protocol ---------------------------------------------

class DevTools:
    """A websocket client just big enough for chromium's DevTools protocol:
    masked text frames out, text (possibly fragmented) frames in."""

    def __init__(self, url):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("DevTools closed the websocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("DevTools refused the websocket: " + head.decode(errors="replace"))
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events = []

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("DevTools closed the websocket")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _message(self):
        data = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 8:
                raise RuntimeError("DevTools closed the websocket")
            if op in (0, 1, 2):
                data += payload
                if b0 & 0x80:
                    return json.loads(data)

    def call(self, method, **params):
        self.next_id += 1
        msg = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(msg)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0xFE]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0xFF]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
        while True:
            m = self._message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)


PROFILE = os.path.join(T, "profile")
browser = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--no-first-run",
                            "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                            "--remote-debugging-port=0", "--user-data-dir=" + PROFILE,
                            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            "--use-file-for-fake-video-capture=" + CLIP,
                            "--window-size=1280,900", "about:blank"],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(T, "chromium.err"), "w"))


def cleanup():
    for p in (browser, *servers):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in (browser, *servers):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(T, ignore_errors=True)


try:
    port_file = os.path.join(PROFILE, "DevToolsActivePort")
    for _ in range(300):
        if os.path.exists(port_file) and len(open(port_file).read().split()) >= 2:
            break
        if browser.poll() is not None:
            break
        time.sleep(0.05)
    else:
        pass
    if not os.path.exists(port_file):
        print(open(os.path.join(T, "chromium.err")).read()[-3000:])
        raise SystemExit("FAIL chromium did not open its DevTools port")
    dport = int(open(port_file).read().split()[0])
    pages = []
    for _ in range(100):
        with urllib.request.urlopen(f"http://127.0.0.1:{dport}/json/list", timeout=10) as r:
            pages = [p for p in json.load(r) if p.get("type") == "page"]
        if pages:
            break
        time.sleep(0.05)
    cdp = DevTools(pages[0]["webSocketDebuggerUrl"])
    cdp.call("Page.enable")
    cdp.call("Runtime.enable")

    def js(expr):
        r = cdp.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(expr, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                v = js(expr)
            except RuntimeError:  # the page is still loading
                v = None
            if v:
                return v
            time.sleep(0.1)
        check(False, f"{what} (waited {timeout} s for {expr})")
        return None

    def viewport(w, h, phone=False):
        cdp.call("Emulation.setDeviceMetricsOverride", width=w, height=h,
                 deviceScaleFactor=2 if phone else 1, mobile=phone)

    # FK_WEB_DOCS=1: the README's screenshots are rewritten in docs/img/
    DOCS = os.path.join(SRC, "docs", "img") if os.environ.get("FK_WEB_DOCS") == "1" else None
    DOCS_SHOTS = ("verify-desktop", "verify-phone", "analyze-desktop", "camera-desktop")
    if DOCS:
        os.makedirs(DOCS, exist_ok=True)

    def shot(name, full=True):
        """A screenshot of the whole page (or the viewport) as PNG."""
        os.makedirs(OUT, exist_ok=True)
        js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        params = {"format": "png"}
        if full:
            m = cdp.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": m["width"], "height": m["height"], "scale": 1})
        data = base64.b64decode(cdp.call("Page.captureScreenshot", **params)["data"])
        path = os.path.join(OUT, name + ".png")
        with open(path, "wb") as f:
            f.write(data)
        print(f"     screenshot {path} ({len(data) // 1024} KiB)")
        if DOCS and name in DOCS_SHOTS:
            # the README's copies as JPEG: a PNG of photos is 4-5 times larger
            params.update(format="jpeg", quality=85)
            data = base64.b64decode(cdp.call("Page.captureScreenshot", **params)["data"])
            path = os.path.join(DOCS, f"web-{name}.jpg")
            with open(path, "wb") as f:
                f.write(data)
            print(f"     for the README {path} ({len(data) // 1024} KiB)")

    def set_file(selector, path):
        root = cdp.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = cdp.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        cdp.call("DOM.setFileInputFiles", files=[path], nodeId=node)

    def set_photo(drop, path):
        """A photo given to a drop zone, waited for until the page shows it."""
        set_file(f"#{drop}-file", path)
        name = os.path.basename(path)
        wait(f"document.querySelector('[data-drop={drop}] .name').textContent === '{name}'",
             f"the {drop} zone shows {name}")

    def tab(name):
        js(f"document.getElementById('tab-{name}').click()")

    viewport(390, 844, phone=True)
    cdp.call("Page.navigate", url=BASE + "/")
    time.sleep(0.2)
    wait("document.documentElement.dataset.ready === '1'", "the page loads /health and /models")
    check(js("document.querySelectorAll('#model option').length") > 1,
          "the model select is filled from GET /models")
    check("ready" in js("document.getElementById('status').textContent"),
          "the status pill says the server is ready")
    js("document.getElementById('settings').open = true")
    shot("settings-phone", full=False)
    js("document.getElementById('settings').open = false")
    viewport(1280, 900)

    # -- verify two uploaded photos
    set_photo("v1", S1)
    set_photo("v2", S3)
    wait("!document.getElementById('verify-btn').disabled", "Verify is enabled with two photos")
    js("document.getElementById('verify-btn').click()")
    v = wait("document.getElementById('verdict') && document.getElementById('verdict').dataset.verdict",
             "a verdict appears for two uploaded photos")
    text = js("document.getElementById('verdict') ? document.getElementById('verdict').innerText : ''")
    check(v == "true" and "Same person" in text,
          f"sample1 and sample3 (the same woman in two group photos) are verified: {v!r}")
    check(all(k in text for k in ("Distance", "Threshold", "Confidence", "Model")),
          "the verdict card shows distance, threshold, confidence and model")
    check(js("[...document.querySelectorAll('#p-verify .frame')].map(f => f.querySelectorAll('.box').length).join()") == "1,1",
          "one box is drawn on each photo")
    shot("verify-desktop")
    viewport(390, 844, phone=True)
    shot("verify-phone")
    viewport(1280, 900)
    cdp.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    shot("verify-dark", full=False)
    cdp.call("Emulation.setEmulatedMedia", features=[])

    # -- errors are readable: the server's (no face, 422) and the page's own
    gray = os.path.join(T, "wall.png")
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240", "-frames:v", "1", gray)
    set_photo("v2", gray)
    js("document.getElementById('verify-btn').click()")
    e = wait("document.querySelector('#verify-out .alert.error') && document.querySelector('#verify-out .alert.error').innerText",
             "the server's error is shown")
    check(bool(e) and "422" in e and "wall.png: no face" in e,
          f"a photo without a face gives a readable 422 naming the file: {e!r}")
    shot("error-desktop", full=False)
    # a text file given as a photo
    note = os.path.join(T, "notes.txt")
    open(note, "w").write("not a photo")
    set_file("#v2-file", note)
    e = wait("document.querySelector('#p-verify .alert.error') && document.querySelector('#p-verify .alert.error').innerText",
             "a readable error for a non-photo", 10)
    check(bool(e) and "notes.txt" in e, f"a non-photo is refused with a readable message: {e!r}")
    if not e:
        print(js("document.getElementById('p-verify').innerText"))
    set_photo("v2", S3)

    # -- analyze
    tab("analyze")
    set_photo("an", S1)
    wait("!document.getElementById('analyze-btn').disabled", "Analyze is enabled with a photo")
    js("document.getElementById('analyze-btn').click()")
    prog = js("document.getElementById('analyze-out').innerText")
    check("Analyzing" in (prog or ""), f"progress is shown while waiting: {prog!r}")
    shot("analyze-progress", full=False)
    wait("!!document.querySelector('#analysis, #analyze-out .alert')", "analysis cards or an error appear")
    n = js("document.querySelectorAll('#analysis .face-card').length")
    text = js("document.getElementById('analyze-out').innerText") or ""
    if not n:
        print(text)
    check((n or 0) == len(a1) and "AGE" in text.upper() and "EMOTION" in text.upper(),
          f"a card per face with age and emotion ({n} cards, {len(a1)} faces)")
    shot("analyze-desktop")
    viewport(390, 844, phone=True)
    shot("analyze-phone")
    viewport(1280, 900)

    # -- gallery: register two faces, search a group photo
    tab("gallery")
    for path, name in ((ALICE, "alice"), (BEA, "bea")):
        set_photo("reg", path)
        js(f"(() => {{ const i = document.getElementById('reg-name'); i.value = '{name}'; i.dispatchEvent(new Event('input')); }})()")
        wait("!document.getElementById('reg-btn').disabled", "Register is enabled")
        js("document.getElementById('reg-btn').click()")
        r = wait("document.querySelector('#reg-out .alert') && document.querySelector('#reg-out .alert').innerText",
                 f"register {name} answers")
        check(bool(r) and "Registered" in r, f"{name} is registered: {r!r}")
    set_photo("sea", S3)
    wait("!document.getElementById('sea-btn').disabled", "Search is enabled")
    js("document.getElementById('sea-btn').click()")
    r = wait("document.getElementById('search-results') && document.getElementById('search-results').innerText",
             "search results appear")
    check(bool(r) and "alice" in r, "searching sample3 finds alice")
    shot("gallery-desktop")
    viewport(390, 844, phone=True)
    shot("gallery-phone")
    viewport(1280, 900)

    # -- live verify from the camera
    tab("camera")
    set_photo("ref", S3)
    js("document.getElementById('cam-start').click()")
    wait("!document.getElementById('cam-verify').disabled", "the camera starts")
    check(js("document.getElementById('cam-video').videoWidth") == W,
          "the fake camera plays the clip")
    js("document.getElementById('cam-verify').click()")
    v = wait("document.getElementById('cam-verdict') && document.getElementById('cam-verdict').dataset.verdict",
             "a verdict appears for the live camera")
    check(v == "true", f"the camera (her face from the clip) is verified against sample3: {v!r}")
    if v is None:
        print(js("document.getElementById('cam-out').innerText"))
    shot("camera-desktop")
    viewport(390, 844, phone=True)
    shot("camera-phone")

    # -- a server with an API key: the page asks for it, sends it as Bearer
    keyfile = os.path.join(T, "key")
    open(keyfile, "w").write("web-test-key\n")
    KEYED = start_server("keyed", "--api-key-file", keyfile)
    viewport(1280, 900)
    cdp.call("Page.navigate", url=KEYED + "/#verify")
    time.sleep(0.2)
    wait("document.documentElement.dataset.ready === '1'", "the page loads from the keyed server")
    check(js("document.getElementById('settings').open") is True,
          "settings open by themselves when the server needs a key")
    set_photo("v1", S1)
    set_photo("v2", S3)
    js("document.getElementById('verify-btn').click()")
    e = wait("document.querySelector('#verify-out .alert.error') && document.querySelector('#verify-out .alert.error').innerText",
             "a missing key is reported")
    check(bool(e) and "401" in e and "API key" in e, f"a missing key is a readable 401: {e!r}")
    js("(() => { const k = document.getElementById('apikey'); k.value = 'web-test-key'; k.dispatchEvent(new Event('input')); })()")
    js("document.getElementById('verify-btn').click()")
    v = wait("document.getElementById('verdict') && document.getElementById('verdict').dataset.verdict",
             "a verdict with the key")
    check(v == "true", f"with the key the verdict comes: {v!r}")
    check(js("sessionStorage.getItem('facekit.apiKey')") == "web-test-key",
          "the key is kept in sessionStorage")

    try:
        cdp.call("Browser.close")
    except RuntimeError:
        pass
finally:
    cleanup()

print(f"{'FAIL' if failures else 'ok'}: {failures} failures, {time.time() - T0:.1f} s")
sys.exit(1 if failures else 0)
