#!/usr/bin/env python3
"""Browser test of report.html: fill the page with a findings.json through report_fill
(ccprof::report::write_html_report), load it in headless Chromium, and check what it shows.

    run_browser_test.py --report-fill BUILD/tests/browser/report_fill --out DIR CASE [CASE...]
    CASE: lock-contention | lock-held-across-io | false-sharing | hostile-strings | large | sparse

Talks to Chromium over the DevTools protocol (a small websocket client, standard library
only) so it sees console errors, exceptions, dialogs and network requests. Exits 0 when all
checks pass, 1 when one fails, 77 (ctest SKIP_RETURN_CODE) only when Chromium is missing.
Leaves CASE.html, CASE.png and chromium-CASE.log in --out.
"""
import argparse
import base64
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixture_gen  # noqa: E402

SKIP = 77
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--window-size=1280,1000", "--remote-debugging-port=0"]


class CdpError(Exception):
    pass


class Cdp:
    """A minimal DevTools-protocol client over one websocket (RFC 6455, client side)."""

    def __init__(self, ws_url, timeout=60):
        u = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CdpError("DevTools closed the connection during the websocket handshake")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise CdpError("websocket handshake refused: " + head.decode(errors="replace"))
        self.buf = bytearray(rest)
        self.next_id = 0
        self.events = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CdpError("DevTools connection closed")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _send_frame(self, payload, opcode=1):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        # XOR with the repeated mask, done on whole integers for speed.
        m = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
        masked = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
        self.sock.sendall(head + mask + masked)

    def _recv_message(self):
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            if opcode == 8:
                raise CdpError("DevTools closed the websocket")
            if opcode == 9:
                self._send_frame(data, opcode=10)
                continue
            if opcode == 10:
                continue
            parts.append(data)
            if b0 & 0x80:
                return json.loads(b"".join(parts))

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self._send_frame(json.dumps({"id": mid, "method": method, "params": params}).encode())
        while True:
            msg = self._recv_message()
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise CdpError("page evaluation failed: " + json.dumps(r["exceptionDetails"])[:2000])
        return r.get("result", {}).get("value")


class Chromium:
    def __init__(self, exe, log_path):
        self.profile = tempfile.mkdtemp(prefix="ccprof-chromium-")
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([exe] + CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise CdpError(f"Chromium did not open its DevTools port (see {log_path})")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise CdpError("Chromium has no page target")
            time.sleep(0.1)
        self.cdp = Cdp(pages[0]["webSocketDebuggerUrl"])

    def stop(self):
        if getattr(self, "cdp", None):
            self.cdp.close()
        if self.proc.poll() is None:
            # Our own process group (start_new_session): the wrapper script and its browser.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# What the page shows, gathered in one evaluation.
DOM_SUMMARY = r"""
(() => {
  const q = (s, r) => [...(r || document).querySelectorAll(s)];
  const txt = (e) => e ? e.textContent : null;
  const inked = (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  };
  const flame = (c) => ({ boxes: +c.dataset.boxes, stacks: +c.dataset.stacks, inked: inked(c), width: c.width, height: c.height,
    total: +c.dataset.total, basis: (c.closest('.flame-box').querySelector('.flame-basis') || { dataset: {} }).dataset.basis,
    what: c.closest('.flame-box').dataset.flame });
  const timeline = (c) => ({ bars: +c.dataset.bars, rows: +c.dataset.rows, inked: inked(c) });
  return {
    status: document.body.getAttribute('data-ccprof-status'),
    renderMs: +document.body.getAttribute('data-render-ms'),
    readyMs: +document.body.getAttribute('data-ready-ms'),
    findings: q('#findings > .finding').map((e) => ({
      index: +e.dataset.index, rank: e.dataset.rank, kind: e.dataset.kind,
      title: txt(e.querySelector('.finding-title')),
      text: e.innerText,
      hotLines: q('.ln.hot', e).map((l) => +l.dataset.line),
      cachelines: q('svg.cacheline', e).map((s) => ({
        verdict: s.dataset.verdict, address: s.dataset.address,
        accesses: q('g.access', s).map((g) => ({
          tid: +g.dataset.tid, offset: +g.dataset.offset, size: +g.dataset.size, kind: g.dataset.kind,
          x: +g.querySelector('rect').getAttribute('x'), w: +g.querySelector('rect').getAttribute('width') })) })),
      flames: q('canvas.flamegraph', e).map(flame),
      timelines: q('canvas.timeline', e).map(timeline),
    })),
    overview: q('#overview .ov-title').map(txt),
    losses: q('#losses tbody tr').map((r) => q('td', r).map(txt)),
    foldedLosses: q('#losses details tbody tr').map((r) => txt(r.querySelector('td'))),
    lossesFoldedOpen: q('#losses details').some((d) => d.open),
    threads: q('#threads tbody tr').map((r) => q('td', r).map(txt)),
    debugInfo: q('#debug-info tbody tr').map((r) => q('td', r).map(txt)),
    command: txt(document.getElementById('command')),
    collection: txt(document.getElementById('collection')),
    allStacksFlames: q('#locks canvas.flamegraph').map(flame),
    scale: (() => {
      const sec = document.getElementById('scale');
      const g = sec && sec.querySelector('svg.scaling');
      return sec ? { points: g ? +g.dataset.points : 0, dots: g ? q('circle.point', g).length : 0,
        runs: g ? q('circle.run', g).length : 0, fit: !!(g && g.querySelector('path.fit')),
        retro: !!(g && g.querySelector('rect.retrograde')), rows: q('table tbody tr', sec).map((r) => q('td', r).map(txt)),
        text: sec.innerText } : null;
    })(),
    bodyText: document.body.innerText,
    scripts: document.scripts.length,
    images: document.images.length,
    handlers: document.querySelectorAll('[onload],[onerror],[onclick],[onmouseover]').length,
    xss: window.__ccprof_xss === undefined ? null : String(window.__ccprof_xss),
  };
})()
"""


class Checks:
    def __init__(self, case):
        self.case, self.failed = case, 0

    def check(self, ok, what, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} [{self.case}] {what}" + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failed += 1
        return ok


def ranked(findings):
    return sorted(range(len(findings)), key=lambda i: (findings[i].get("rank", 1e9), i))


def access_kind(t):
    r, w, m = t.get("reads", 0), t.get("writes", 0), t.get("rmws", 0)
    if m > 0 and m >= w:
        return "rmw"
    if w > 0 or m > 0:
        return "write"
    return "read" if r > 0 else None


def check_common(c, doc, dom, events, page_url):
    c.check(dom["status"] == "ok", "page rendered (data-ccprof-status=ok)", dom["status"])
    findings = doc.get("findings", [])
    order = ranked(findings)
    got = [f["index"] for f in dom["findings"]]
    c.check(got == order, "findings in the DOM in rank order, as in findings.json", f"{got} != {order}")
    c.check([f["title"] for f in dom["findings"]] == [findings[i]["title"] for i in order],
            "each card shows its finding's title")
    c.check([f["kind"] for f in dom["findings"]] == [findings[i]["kind"] for i in order], "each card shows its kind")
    c.check(dom["overview"] == [findings[i]["title"] for i in order], "overview lists the findings in rank order")
    losses = doc.get("losses", [])
    # Non-zero counters first (in the document's order), then the zero ones, folded.
    lost = [l for l in losses if l["count"] > 0]
    zero = [l for l in losses if not l["count"] > 0]
    c.check([r[0] for r in dom["losses"]] == [l["what"] for l in lost + zero] and
            all(r[1] == f"{l['count']:,}" for r, l in zip(dom["losses"], lost + zero)),
            f"header shows all {len(losses)} losses with their counts, non-zero first", f"{dom['losses']}")
    c.check(dom["foldedLosses"] == [l["what"] for l in zero] and not dom["lossesFoldedOpen"],
            f"the {len(zero)} zero loss counters are folded", f"{dom['foldedLosses']}")
    argv = doc["target"]["command"]
    try:
        shown = shlex.split(dom["command"])
    except ValueError:
        shown = None
    c.check(shown == argv, "header shows the command line, quoted as a shell would read it", dom["command"])
    ms = doc["profile"]["memory_sampler"]
    c.check(ms["mode"] in dom["collection"] and ms["reason"] in dom["collection"],
            "header shows the memory sampler mode and why")
    for ch in ms.get("rate_changes", []):
        c.check(f"it went to {ch['hz']} Hz ({ch['why']}" in dom["collection"],
                "header shows each rate change of the memory sampler's CPU budget", dom["collection"])
    if ms.get("requested_hz", 0) > ms.get("frequency_hz", 0):
        c.check(f"Asked for {ms['requested_hz']} Hz" in dom["collection"] and
                f"thinned to {ms['frequency_hz']} Hz" in dom["collection"],
                "header says the rate asked for and that samples were thinned to the effective one", dom["collection"])
    threads = doc.get("threads", [])
    if len(threads) <= 200:
        nulls = sum(1 for t in threads for k in ("lifetime_s", "on_cpu_s", "lock_wait_s", "io_s", "runnable_s")
                    if t.get(k) is None)
        shown = sum(1 for row in dom["threads"] for cell in row if cell == "n/a (collector not run)")
        c.check(len(dom["threads"]) == len(threads) and shown == nulls,
                f"thread table: {len(threads)} rows, {nulls} null fields shown as 'n/a (collector not run)'",
                f"{len(dom['threads'])} rows, {shown} n/a cells")
    for card, i in zip(dom["findings"], order):
        want = [l["line"] for l in findings[i].get("locations", []) if l.get("snippet", {}).get("available")]
        c.check(card["hotLines"] == want, f"finding #{findings[i]['rank']}: snippet hot lines {want}", card["hotLines"])
        for l in findings[i].get("locations", []):
            sn = l.get("snippet")
            if sn and sn.get("available") is False:
                c.check("Source not shown: " + sn["reason"] in card["text"],
                        f"finding #{findings[i]['rank']}: says why source is not shown")
    c.check("This page knows findings.json schema version" not in dom["bodyText"],
            "no schema warning: the page knows the data's schema_version", doc.get("schema_version"))
    errors = [e for e in events if e["method"] == "Runtime.exceptionThrown" or
              (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")) or
              (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    c.check(not errors, "no JavaScript errors or console errors", json.dumps(errors)[:1500])
    dialogs = [e for e in events if e["method"] == "Page.javascriptDialogOpening"]
    c.check(not dialogs, "no dialog opened", json.dumps(dialogs)[:500])
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    foreign = [u for u in requests if u != page_url and not u.startswith("data:")]
    c.check(not foreign, "no network request besides the page itself", foreign[:5])


ZOOM = r"""
(() => {
  const c = document.querySelector('#findings canvas.flamegraph');
  if (!c) return null;
  const r = c.getBoundingClientRect(), before = +c.dataset.boxes, t = performance.now();
  c.dispatchEvent(new MouseEvent('click', { clientX: r.left + 20, clientY: r.top + 5 * 18 + 9, bubbles: true }));
  const ms = performance.now() - t;
  const reset = c.closest('.flame-box').querySelector('button');
  return { ms, before, after: +c.dataset.boxes, zoomed: !reset.hidden };
})()
"""


def check_zoom(c, cdp):
    z = cdp.evaluate(ZOOM)
    c.check(z is not None and z["zoomed"] and z["after"] > 0, "clicking a flame-graph frame zooms into it", z)
    if z:
        print(f"FIGURE [{c.case}] flame graph zoom redraw: {z['ms']:.1f} ms ({z['before']} -> {z['after']} boxes)")


def check_sparse(c, doc, dom, events):
    c.check(dom["status"] == "ok", "page with missing optional parts rendered", dom["status"])
    order = ranked(doc["findings"])
    c.check([f["index"] for f in dom["findings"]] == order, "findings in rank order", dom["findings"])
    errors = [e for e in events if e["method"] == "Runtime.exceptionThrown" or
              (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))]
    c.check(not errors, "no JavaScript errors on sparse or odd input", json.dumps(errors)[:1500])
    c.check("could not be drawn" not in dom["bodyText"], "every part drawn, none replaced by an error box")


def check_locks(c, doc, dom):
    findings = doc["findings"]
    for card, i in zip(dom["findings"], ranked(findings)):
        ev = findings[i].get("evidence", {})
        if "lock" not in ev:
            continue
        addr = ev["lock"]["address"]
        n = sum(1 for s in doc["stacks"] if s["lock"] == addr)
        fl = [f for f in card["flames"] if f.get("what") != "holds"]
        # The holders' flame graph next to the waiters' (issue 16), where holder stacks were sampled.
        held = [s for s in doc.get("holder_stacks", []) if s["lock"] == addr]
        hf = [f for f in card["flames"] if f.get("what") == "holds"]
        if held:
            total = sum(s["hold_s"] for s in held)
            c.check(len(hf) == 1 and hf[0]["stacks"] == len(held) and hf[0]["boxes"] > 0 and hf[0]["inked"] > 1000
                    and abs(hf[0]["total"] - total) <= 1e-9 * max(1, total),
                    f"finding #{findings[i]['rank']}: holders' flame graph of its lock's {len(held)} holding stacks "
                    f"is drawn, {total:.4f} s of sampled hold time wide", hf)
        else:
            c.check(not hf, f"finding #{findings[i]['rank']}: no holders' flame graph without holder stacks", hf)
        c.check(len(fl) == 1 and fl[0]["stacks"] == n and fl[0]["boxes"] > 0 and fl[0]["inked"] > 1000,
                f"finding #{findings[i]['rank']}: flame graph of its lock's {n} stacks is drawn", fl)
        timed = any(s.get("wait_s", 0) > 0 for s in doc["stacks"] if s["lock"] == addr)
        if fl and timed:
            total = ev["lock"]["total_wait_s"]
            c.check(fl[0]["basis"] in ("wait", "scaled-wait") and abs(fl[0]["total"] - total) <= 1e-6 * max(1, total),
                    f"finding #{findings[i]['rank']}: flame graph says its widths are wait time, scaled to the "
                    f"lock's exact {total:.3f} s", fl)
        elif fl:
            c.check(fl[0]["basis"] == "stacks", f"finding #{findings[i]['rank']}: flame graph says its widths "
                    "are sampled stacks (no wait times)", fl)
        tl = card["timelines"]
        c.check(len(tl) == 1 and tl[0]["bars"] > 0 and tl[0]["rows"] > 0 and tl[0]["inked"] > 100,
                f"finding #{findings[i]['rank']}: per-thread timeline is drawn", tl)
    fl = dom["allStacksFlames"]
    c.check(len(fl) == 1 and fl[0]["stacks"] == len(doc["stacks"]) and fl[0]["boxes"] > 0,
            "flame graph of all waiting stacks is drawn", fl)


def check_cache_lines(c, doc, dom):
    findings = doc["findings"]
    for card, i in zip(dom["findings"], ranked(findings)):
        f = findings[i]
        cl = f.get("evidence", {}).get("cache_line")
        if not cl:
            continue
        want = sorted((t["tid"], o["offset"], o["size"], access_kind(t)) for o in cl["offsets"] for t in o["threads"]
                      if access_kind(t))
        drawn = card["cachelines"][0] if card["cachelines"] else {"accesses": [], "verdict": None}
        got = sorted((a["tid"], a["offset"], a["size"], a["kind"]) for a in drawn["accesses"])
        c.check(got == want, f"finding #{f['rank']} ({f['kind']}): drawing puts each thread on its offsets",
                f"{got} != {want}")
        boxes = sorted((a["offset"], a["x"], a["w"]) for a in drawn["accesses"])
        c.check(all(a[1] < b[1] for a, b in zip(boxes, boxes[1:]) if a[0] < b[0]),
                f"finding #{f['rank']}: boxes sit left to right in offset order", boxes)
        expected = {"false-sharing": "false-sharing", "hot-atomic": "true-sharing", "cas-retry-storm": "true-sharing"}
        if f["kind"] in expected:
            c.check(drawn["verdict"] == expected[f["kind"]],
                    f"finding #{f['rank']}: drawing says {expected[f['kind']]}", drawn["verdict"])
        if f["kind"] == "false-sharing":
            tids_at = {}
            for a in drawn["accesses"]:
                tids_at.setdefault(a["tid"], set()).add(a["offset"])
            offsets = sorted(o for s in tids_at.values() for o in s)
            c.check(len(tids_at) >= 2 and len(offsets) == len(set(offsets)),
                    f"finding #{f['rank']}: {len(tids_at)} threads, each at its own offsets {offsets}", tids_at)


def check_scale(c, doc, dom):
    t = doc["scale"]
    sc = dom["scale"]
    if not c.check(sc is not None, "the scale section is shown"):
        return
    pts = t["points"]
    c.check(sc["dots"] == len(pts) and sc["runs"] == sum(len(p["runs"]) for p in pts),
            f"the chart has a dot per thread count ({len(pts)}) and per run", sc)
    c.check(sc["fit"] == bool(t["fit"].get("fitted")), "the fitted USL curve is drawn when there is a fit", sc)
    c.check(sc["retro"] == bool(t["retrograde"].get("detected")), "the retrograde region is shaded when detected", sc)
    c.check([int(r[0]) for r in sc["rows"]] == [p["threads"] for p in pts], "the table has a row per thread count",
            sc["rows"])
    c.check(t["retrograde"]["reason"] in sc["text"], "the verdict is shown", sc["text"][:300])
    c.check(f"{t['fit']['alpha']:.3g}" in sc["text"] and f"{t['fit']['beta']:.3g}" in sc["text"],
            "alpha and beta of the fit are shown", sc["text"][-300:])


def check_hostile(c, doc, dom, html_path, data):
    c.check(dom["xss"] is None, "no injected script ran (window.__ccprof_xss unset)", dom["xss"])
    c.check(dom["scripts"] == 2 and dom["images"] == 0 and dom["handlers"] == 0,
            "no injected <script>, <img> or event handler in the DOM",
            f"scripts={dom['scripts']} images={dom['images']} handlers={dom['handlers']}")
    for s in fixture_gen.HOSTILE_TEXTS:
        c.check(s in dom["bodyText"], f"shown as text: {s!r}")
    c.check(dom["findings"] and dom["findings"][0]["title"] == fixture_gen.XSS,
            "the </script><script>alert(1)</script> symbol is the first card's title, as text")
    mods = [r[0] for r in dom["debugInfo"]]
    c.check(mods == [r["module"] for r in doc["debug_info"]],
            "the debug-info table lists each module path as text", mods)
    raw = Path(html_path).read_bytes()
    c.check(b"<script>alert(1)" not in raw and b"</script><script>alert" not in raw,
            "report.html holds the symbol only in escaped form")
    c.check(data == doc, "the embedded JSON parses back to findings.json exactly (U+2028/2029 included)")


def run_case(case, args):
    c = Checks(case)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if case in ("large", "sparse"):
        doc = fixture_gen.large(n_stacks=args.stacks) if case == "large" else fixture_gen.sparse()
        fixture = out / f"{case}.json"
        fixture.write_text(json.dumps(doc))
    else:
        # A real findings.json made by ccprof (--findings CASE=PATH) or the case's fixture.
        fixture = Path(args.findings[case]) if case in args.findings else HERE / "fixtures" / f"{case}.json"
        doc = json.loads(fixture.read_text(encoding="utf-8"))
    html = out / f"{case}.html"
    if html.exists():
        html.unlink()
    r = subprocess.run([args.report_fill, str(fixture), str(html)], capture_output=True, text=True)
    if not c.check(r.returncode == 0 and html.exists(), "report_fill wrote the page", r.stderr.strip()):
        return c.failed
    page_url = html.resolve().as_uri()
    browser = Chromium(args.chromium, out / f"chromium-{case}.log")
    try:
        cdp = browser.cdp
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.call(f"{domain}.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        t0 = time.monotonic()
        cdp.call("Page.navigate", url=page_url)
        status, deadline = None, time.monotonic() + 120
        while status is None and time.monotonic() < deadline:
            status = cdp.evaluate("document.body && document.body.getAttribute('data-ccprof-status')")
            if status is None:
                time.sleep(0.02)
        wall_ms = (time.monotonic() - t0) * 1000
        if not c.check(status is not None, "page finished rendering within 120 s"):
            return c.failed
        dom = cdp.evaluate(DOM_SUMMARY)
        data = cdp.evaluate("JSON.parse(document.getElementById('ccprof-data').textContent)") \
            if case == "hostile-strings" else None
        if case == "sparse":
            check_sparse(c, doc, dom, cdp.events)
        else:
            check_common(c, doc, dom, cdp.events, page_url)
        if case in ("lock-contention", "lock-held-across-io", "large"):
            check_locks(c, doc, dom)
            check_zoom(c, cdp)
            cdp.evaluate("document.querySelector('#findings .flame-box button').click()")   # back to the whole graph
        if case in ("false-sharing", "hostile-strings"):
            check_cache_lines(c, doc, dom)
        if case == "hostile-strings":
            check_hostile(c, doc, dom, html, data)
        if case == "scale":
            check_scale(c, doc, dom)
        elif case != "sparse":
            c.check(dom["scale"] is None, "no scale section without a scale table", dom["scale"])
        if case == "large":
            print(f"FIGURE [{case}] report with {len(doc['stacks']):,} stacks and {len(doc['timeline']):,} timeline "
                  f"events ({html.stat().st_size / 1e6:.1f} MB): drawn {dom['readyMs']:.0f} ms after navigation "
                  f"start (script {dom['renderMs']:.0f} ms; {wall_ms:.0f} ms as seen by the test)", flush=True)
        late = [e for e in cdp.events if e["method"] == "Runtime.exceptionThrown" or
                (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))]
        c.check(not late, "no JavaScript errors after the interactions", json.dumps(late)[:1500])
        # Screenshot of the whole page (first 8000 px of a very long one).
        metrics = cdp.call("Page.getLayoutMetrics")
        height = min(8000, int(metrics.get("cssContentSize", metrics.get("contentSize"))["height"]))
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
        png = out / f"{case}.png"
        png.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {png}", flush=True)
        for n, y in enumerate(range(0, height, 1000) if args.slices else []):
            part = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": y, "width": 1280, "height": min(1000, height - y), "scale": 1})
            (out / f"{case}-part{n + 1}.png").write_bytes(base64.b64decode(part["data"]))
    finally:
        browser.stop()
    return c.failed


def find_chromium(given):
    for cand in ([given] if given else []) + ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(cand) if cand else None
        if path:
            return path
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chromium", default="", help="Chromium executable (default: chromium on PATH)")
    p.add_argument("--report-fill", required=True, help="the report_fill tool built in tests/browser/")
    p.add_argument("--out", required=True, help="folder for the pages, screenshots and browser logs")
    p.add_argument("--stacks", type=int, default=50000, help="stacks in the large report")
    p.add_argument("--slices", action="store_true", help="also save the page in 1000-px screenshots, CASE-partN.png")
    p.add_argument("cases", nargs="+",
                   choices=["lock-contention", "lock-held-across-io", "false-sharing", "hostile-strings", "large",
                            "sparse", "scale"])
    p.add_argument("--findings", action="append", default=[], metavar="CASE=PATH",
                   help="check a findings.json made by ccprof instead of the case's fixture")
    args = p.parse_args()
    args.findings = dict(f.split("=", 1) for f in args.findings)
    args.chromium = find_chromium(args.chromium)
    if not args.chromium:
        print("SKIP: Chromium not found (install Debian's chromium package to run the browser tests)")
        return SKIP
    failed = 0
    for case in args.cases:
        try:
            failed += run_case(case, args)
        except CdpError as e:
            print(f"FAIL [{case}] {e}", flush=True)
            failed += 1
    print(f"{failed} check(s) failed" if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
