"""End-to-end test of `facekit serve` (run by test_serve.sh under ctest).

Starts build/facekit serve on loopback (--port 0, the port read from its
"listening on" line) with a temporary SQLite gallery, an --image-root and
an API key, and drives every endpoint with curl (a real HTTP client):

  * every input form of an image: multipart upload, JSON base64, JSON data
    URI, urlencoded form base64, and a server path under the root;
  * every response shape against deepface's keys, and the values against
    the CLI run on the same images (the server and the CLI share one JSON
    writer, so they must agree to the last digit);
  * every error: bad base64, a non-image, a huge declared image size and a
    huge declared body, no face (422), a path outside the root ('..', an
    absolute path, a symlink), a wrong and a missing key (401), an
    oversized body (declared and streamed), unknown route (404), wrong
    method (405), saturation (503 + Retry-After), the deadline (504);
  * SIGTERM while a request runs: it is answered, then the server exits 0.
Exit 77 (skip) without models.
"""
import base64
import itertools
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

CLI = os.environ.get("FK_CLI", "build/facekit")
HOME = os.environ.get("FACEKIT_HOME", os.path.expanduser("~/.facekit"))
SHARED = os.environ.get("FK_SHARED", "")
FACES = os.path.join(HOME, "face-api")
S1, S3, S5 = (os.path.join(FACES, f"sample{i}.jpg") for i in (1, 3, 5))
if not all(os.path.exists(p) for p in (S1, S3, S5)):
    print(f"skip: no demo photos in {FACES} (facekit models fetch)")
    sys.exit(77)

failures = 0
COUNTER = itertools.count()


def check(cond, what):
    global failures
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}")


T = tempfile.mkdtemp(prefix="fk-serve-")
ROOT = os.path.join(T, "root")
os.makedirs(os.path.join(ROOT, "people"))
shutil.copy(S1, os.path.join(ROOT, "people", "alice.jpg"))
shutil.copy(S3, os.path.join(ROOT, "sample3.jpg"))
shutil.copy(S5, os.path.join(T, "outside.jpg"))
os.symlink(os.path.join(T, "outside.jpg"), os.path.join(ROOT, "escape.jpg"))
KEY = "s3cret-key-for-tests"
with open(os.path.join(T, "key"), "w") as f:
    f.write(KEY + "\n")


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def gray_bmp(w, h):
    """A plain gray 24-bit BMP: a real image that holds no face."""
    row = bytes([128] * (w * 3)) + bytes((4 - w * 3 % 4) % 4)
    pixels = row * h
    head = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return head + info + pixels


def huge_png(w, h):
    """A PNG whose header declares w x h pixels (and holds none)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


NOFACE = os.path.join(T, "gray.bmp")
with open(NOFACE, "wb") as f:
    f.write(gray_bmp(200, 200))
HUGE = os.path.join(T, "huge.png")
with open(HUGE, "wb") as f:
    f.write(huge_png(60000, 60000))
TEXT = os.path.join(T, "notimage.txt")
with open(TEXT, "w") as f:
    f.write("this is a text file, not an image. " * 20)


def start(*args):
    """Start a server; return (process, base URL, stderr path)."""
    err = os.path.join(T, f"serve{next(COUNTER)}.err")
    ef = open(err, "w")
    p = subprocess.Popen([CLI, "serve", "--port", "0", *args], stdout=subprocess.DEVNULL,
                         stderr=ef)
    for _ in range(600):
        time.sleep(0.05)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(err).read())
        if m:
            return p, f"http://127.0.0.1:{m.group(1)}", err
        if p.poll() is not None:
            break
    print(open(err).read())
    raise SystemExit("FAIL the server did not start")


def curl(url, *args, key=KEY, stdin=None):
    """One request through curl; returns (status, headers, json or text)."""
    n = next(COUNTER)  # own files: requests may run in parallel threads
    hdr, out = os.path.join(T, f"h{n}.txt"), os.path.join(T, f"body{n}")
    cmd = ["curl", "-s", "-S", "-o", out, "-D", hdr, "-w", "%{http_code}",
           "--max-time", "120", url]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    cmd += list(args)
    inp = open(stdin, "rb") if stdin else None
    status = int(subprocess.run(cmd, capture_output=True, stdin=inp).stdout or 0)
    if inp:
        inp.close()
    raw = b""
    if os.path.exists(out):
        with open(out, "rb") as f:
            raw = f.read()
        os.remove(out)
    headers = ""
    if os.path.exists(hdr):
        headers = open(hdr).read().lower()
        os.remove(hdr)
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode(errors="replace")
    return status, headers, body


def post_json(url, obj, **kw):
    path = os.path.join(T, f"req{next(COUNTER)}.json")
    with open(path, "w") as f:
        json.dump(obj, f)
    return curl(url, "-H", "Content-Type: application/json", "--data-binary", f"@{path}", **kw)


def post_form_b64(url, fields, **kw):
    """application/x-www-form-urlencoded, images as base64 text fields."""
    args = []
    for k, v in fields.items():
        path = os.path.join(T, f"field_{k}")
        with open(path, "w") as f:
            f.write(v)
        args += ["--data-urlencode", f"{k}@{path}"]
    return curl(url, *args, **kw)


def cli_json(*args):
    out = subprocess.run([CLI, *args], capture_output=True, text=True)
    return json.loads(out.stdout)


server, URL, ERR = start("--workers", "2", "--db", os.path.join(T, "g.db"), "--image-root", ROOT,
                         "--api-key-file", os.path.join(T, "key"), "--max-body-mb", "2")

# ---- GET routes -----------------------------------------------------------------
st, h, body = curl(URL + "/health", key=None)
check(st == 200 and body.get("status") == "ok" and body.get("workers") == 2, "GET /health (no key needed)")
st, h, body = curl(URL + "/models", key=None)
check(st == 200 and any(m["name"] == "Dlib" and m["installed"] for m in body["models"]), "GET /models lists Dlib installed")
st, h, body = curl(URL + "/openapi.json", key=None)
paths = body.get("paths", {}) if isinstance(body, dict) else {}
check(st == 200 and body.get("openapi", "").startswith("3.") and
      all(p in paths for p in ("/represent", "/verify", "/analyze", "/register", "/search",
                               "/build/index", "/health", "/models", "/", "/openapi.json")),
      "GET /openapi.json describes every endpoint")
props = paths["/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
check(all(k in props for k in ("img1", "img2", "model_name", "detector_backend", "distance_metric",
                                "enforce_detection", "align", "anti_spoofing")), "openapi: verify's keys")
st, h, body = curl(URL + "/", key=None)
check(st == 200 and "text/html" in h and "<html" in body, "GET / serves the web page")

# ---- verify in every input form, against the CLI ---------------------------------
ref = cli_json("verify", S1, S3)
DEEPFACE_VERIFY = {"verified", "distance", "threshold", "model", "detector_backend",
                   "similarity_metric", "facial_areas", "time", "confidence"}
forms = {
    "multipart": lambda: curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}"),
    "json base64": lambda: post_json(URL + "/verify", {"img1": b64(S1), "img2": b64(S3)}),
    "json data URI": lambda: post_json(URL + "/verify", {
        "img1": "data:image/jpeg;base64," + b64(S1), "img2": "data:image/jpeg;base64," + b64(S3)}),
    "form base64": lambda: post_form_b64(URL + "/verify", {"img1": b64(S1), "img2": b64(S3)}),
    "server path": lambda: post_json(URL + "/verify", {"img1": "people/alice.jpg",
                                                        "img2": os.path.join(ROOT, "sample3.jpg")}),
}
for name, run in forms.items():
    st, h, body = run()
    ok = st == 200 and isinstance(body, dict) and DEEPFACE_VERIFY <= set(body)
    ok = ok and set(body["facial_areas"]) == {"img1", "img2"}
    ok = ok and {"x", "y", "w", "h", "left_eye", "right_eye"} <= set(body["facial_areas"]["img1"])
    ok = ok and body["verified"] == ref["verified"] and body["distance"] == ref["distance"]
    ok = ok and body["facial_areas"] == ref["facial_areas"] and set(body) == set(ref)
    check(ok, f"POST /verify, {name}: deepface's keys, the CLI's values (distance {body.get('distance') if isinstance(body, dict) else body})")
st, h, body = post_json(URL + "/verify", {"img1": b64(S1), "img2": b64(S5), "model_name": "Dlib",
                                          "distance_metric": "euclidean_l2", "align": "true"})
ref5 = cli_json("verify", S1, S5, "--metric", "euclidean_l2")
check(st == 200 and body["verified"] is False and body["similarity_metric"] == "euclidean_l2"
      and body["distance"] == ref5["distance"], "POST /verify, different people, options as strings")

# ---- represent, analyze ------------------------------------------------------------
ref = cli_json("represent", S1)
for name, run in {
    "multipart": lambda: curl(URL + "/represent", "-F", f"img=@{S1}", "-F", "max_faces=2"),
    "json data URI": lambda: post_json(URL + "/represent", {"img": "data:image/jpeg;base64," + b64(S1), "max_faces": 2}),
    "form base64": lambda: post_form_b64(URL + "/represent", {"img": b64(S1), "max_faces": "2"}),
    "server path": lambda: post_json(URL + "/represent", {"img": "people/alice.jpg", "max_faces": 2}),
}.items():
    st, h, body = run()
    res = body.get("results") if isinstance(body, dict) else None
    ok = st == 200 and isinstance(res, list) and len(res) == 2
    ok = ok and all(set(r) == {"embedding", "facial_area", "face_confidence"} and len(r["embedding"]) == 128 for r in res)
    # max_faces keeps the two largest faces; the CLI lists them by confidence
    ok = ok and all(any(r["embedding"] == c["embedding"] for c in ref) for r in res)
    check(ok, f"POST /represent, {name}: {{results: [embedding, facial_area, face_confidence]}}, max_faces 2, the CLI's embeddings")
ref = cli_json("analyze", S1, "--actions", "age,gender,emotion,race")
st, h, body = curl(URL + "/analyze", "-F", f"img=@{S1}", "-F", "actions=[age, gender, emotion, race]")
res = body.get("results") if isinstance(body, dict) else None
check(st == 200 and res == ref and all({"age", "gender", "dominant_gender", "emotion", "dominant_emotion",
                                         "race", "dominant_race", "region", "face_confidence"} <= set(r) for r in res),
      "POST /analyze (multipart, actions as a string): deepface's keys, the CLI's values")
st, h, body = post_json(URL + "/analyze", {"img": b64(S1), "actions": ["age"]})
check(st == 200 and all(set(r) == {"age", "region", "face_confidence"} for r in body["results"]),
      "POST /analyze, JSON actions list [age]: only age")

# ---- register, search, build/index ---------------------------------------------------
st, h, body = curl(URL + "/register", "-F", f"img=@{S1}", "-F", "img_name=alice")
check(st == 200 and body.get("inserted") == 3 and body.get("identity") == "alice", "POST /register (multipart): inserted 3")
st, h, body = post_json(URL + "/register", {"img": b64(S1), "img_name": "again"})
check(st == 200 and body.get("duplicate") is True and body.get("inserted") == 0, "POST /register again (base64): a duplicate, nothing stored")
st, h, body = post_json(URL + "/register", {"img": "sample3.jpg"})
check(st == 200 and body.get("identity") == "sample3" and body.get("inserted", 0) >= 1, "POST /register, server path: identity from the file name")
st, h, body = post_json(URL + "/register", {"img": b64(S5)})
check(st == 400 and "img_name" in body.get("exception", ""), "POST /register, base64 without img_name: 400")
st, h, body = post_form_b64(URL + "/search", {"img": b64(S3), "k": "3"})
res = body.get("results") if isinstance(body, dict) else None
matches = [m for r in res or [] for m in r["matches"]]
check(st == 200 and res and any(m["img_name"] == "alice" for m in matches) and
      all({"identity", "img_name", "hash", "target_x", "target_y", "target_w", "target_h", "source_x",
           "threshold", "distance", "confidence"} <= set(m) for m in matches) and
      body.get("search_method") == "exact", "POST /search (form base64, k=3): finds alice, deepface's columns")
st, h, body = curl(URL + "/build/index", "-X", "POST")
check(st == 200 and "message" in body and body.get("index") in ("none", "hnsw"), f"POST /build/index: {body.get('message') if isinstance(body, dict) else body}")

# ---- errors ----------------------------------------------------------------------------
def err(what, expect, got):
    st, h, body = got
    check(st == expect and isinstance(body, dict) and isinstance(body.get("exception" if expect != 401 else "message"), str),
          f"{what}: {expect} ({st} {body if not isinstance(body, dict) else body.get('exception', body.get('message'))})")
    return st, h, body


err("bad base64", 400, post_json(URL + "/represent", {"img": "data:image/png;base64,@@@not-base64@@@"}))
err("a non-image (base64 of text)", 400, post_json(URL + "/represent", {"img": b64(TEXT)}))
err("a non-image upload", 400, curl(URL + "/represent", "-F", f"img=@{TEXT}"))
err("an image header declaring 60000x60000 pixels", 413, curl(URL + "/represent", "-F", f"img=@{HUGE}"))
err("a declared body of 10^12 bytes", 413, curl(URL + "/represent", "-H", "Content-Type: application/json",
                                                "-H", "Content-Length: 1000000000000", "--data-binary", "{}"))
big = os.path.join(T, "big.json")
with open(big, "w") as f:
    f.write('{"img": "' + "A" * (3 << 20) + '"}')
err("an oversized body (declared)", 413, curl(URL + "/represent", "-H", "Content-Type: application/json", "--data-binary", f"@{big}"))
err("an oversized body (chunked, nothing declared)", 413, curl(URL + "/represent", "-X", "POST", "-H", "Content-Type: application/json",
                                                             "-H", "Expect:", "-T", "-", stdin=big))
_, _, body = err("no face", 422, curl(URL + "/represent", "-F", f"img=@{NOFACE}"))
msg = body.get("exception", "") if isinstance(body, dict) else ""
check("enforce_detection" in msg and "--" not in msg,
      f"the no-face hint names the request key, not the CLI flag: {msg}")
st, h, body = curl(URL + "/represent", "-F", f"img=@{NOFACE}", "-F", "enforce_detection=false")
check(st == 200 and len(body["results"]) == 1, "no face with enforce_detection false: the whole image, 200")
err("a path with ..", 403, post_json(URL + "/represent", {"img": "../outside.jpg"}))
err("an absolute path outside the root", 403, post_json(URL + "/represent", {"img": os.path.join(T, "outside.jpg")}))
err("a symlink out of the root", 403, post_json(URL + "/represent", {"img": "escape.jpg"}))
err("a missing file under the root", 400, post_json(URL + "/represent", {"img": "nobody.jpg"}))
err("a URL", 400, post_json(URL + "/represent", {"img": "http://example.com/a.jpg"}))
err("no img", 400, post_json(URL + "/represent", {"model_name": "Dlib"}))
err("an unknown model", 400, curl(URL + "/represent", "-F", f"img=@{S1}", "-F", "model_name=VGG-Nope"))
err("a bad boolean", 400, post_json(URL + "/verify", {"img1": b64(S1), "img2": b64(S3), "align": "maybe"}))
err("invalid JSON", 400, curl(URL + "/verify", "-H", "Content-Type: application/json", "--data-binary", '{"img1": '))
err("a JSON list body", 400, curl(URL + "/verify", "-H", "Content-Type: application/json", "--data-binary", '[1]'))
err("unsupported Content-Type", 415, curl(URL + "/verify", "-H", "Content-Type: text/plain", "--data-binary", 'x'))
err("unknown route", 404, curl(URL + "/nothing"))
st, h, body = err("wrong method", 405, curl(URL + "/verify"))
check("allow: post" in h, "405 names the allowed method")
st, h, body = err("a missing key", 401, curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}", key=None))
check("www-authenticate: bearer" in h, "401 asks for a bearer token")
err("a wrong key", 401, curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}", key=KEY + "x"))
err("a key prefix", 401, curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}", key=KEY[:-1]))

log = open(ERR).read()
lines = [l for l in log.splitlines() if re.search(r" (GET|POST) /\S* \d{3} [\d.]+ ms$", l)]
check(len(lines) >= 40, f"one access-log line per request ({len(lines)} lines)")
check(KEY not in log and b64(S1)[:40] not in log, "the log holds neither the key nor image bytes")
server.send_signal(signal.SIGTERM)
check(server.wait(timeout=30) == 0, "SIGTERM: exit 0")

# ---- saturation, deadline, drain --------------------------------------------------------
server, URL, ERR = start("--workers", "1", "--queue", "1")
results = []


def one():
    results.append(curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}", key=None)[:2])


threads = [threading.Thread(target=one) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
codes = sorted(r[0] for r in results)
busy = [h for s, h in results if s == 503]
check(200 in codes and busy and set(codes) <= {200, 503}, f"saturation: 8 at once on 1 worker + queue 1 gives 200s and 503s ({codes})")
check(all("retry-after:" in h for h in busy), "each 503 carries Retry-After")
# drain: a request in flight when SIGTERM arrives is answered
t = threading.Thread(target=one)
results.clear()
t.start()
time.sleep(0.15)
server.send_signal(signal.SIGTERM)
t.join()
check(results and results[0][0] == 200, f"SIGTERM while a request runs: it is answered ({results[0][0] if results else None})")
check(server.wait(timeout=30) == 0, "SIGTERM while busy: exit 0 after the drain")

server, URL, ERR = start("--workers", "1", "--timeout-ms", "100")
st, h, body = curl(URL + "/verify", "-F", f"img1=@{S1}", "-F", f"img2=@{S3}", key=None)
check(st in (503, 504) and "deadline" in body.get("exception", ""), f"--timeout-ms 100: {st} with the deadline named")
server.send_signal(signal.SIGTERM)
check(server.wait(timeout=30) == 0, "exit 0")

shutil.rmtree(T)
print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
