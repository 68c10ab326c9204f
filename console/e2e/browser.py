#!/usr/bin/env python3
"""The console in a real browser: headless Chromium driven through chromedriver with the W3C
WebDriver protocol (standard library only). Run by tests/console.sh, which prepares the
database, the worker, the simulator and the console, and passes their addresses in the
environment. Prints one line per check ("  ok   ..." / "  FAIL ...") and a last line
"browser: N passed, M failed"; every wait is bounded.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CONSOLE = os.environ["CONSOLE_URL"].rstrip("/")
DRIVER = os.environ["DRIVER_URL"].rstrip("/")
DB_PORT = os.environ["DB_PORT"]
DB = os.environ["DB_NAME"]
SHOTS = os.environ["SCREENSHOTS"]
PASSWORDS = json.loads(os.environ["PASSWORDS"])  # {"c_reader": "...", ...}
REFRESH = int(os.environ.get("REFRESH_SECONDS", "2"))
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

passed = 0
failed = 0


def check(what, ok, got=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {what}", flush=True)
    else:
        failed += 1
        print(f"  FAIL {what} (got: {str(got)[:600]})", flush=True)


def sql(query):
    """One value from the test database, as the postgres superuser (the test's own view)."""
    out = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", DB_PORT, "-U", "postgres", "-d", DB, "-Atc", query],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else "ERROR: " + out.stderr.strip()


class WebDriverError(Exception):
    pass


def wd(method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DRIVER + path, method=method, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r).get("value")
    except urllib.error.HTTPError as e:
        raise WebDriverError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None


class Browser:
    """One browser session (a fresh profile: no cookies shared between people)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="vasscm-console-chromium-")
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=vi", "--window-size=1400,1000", "--user-data-dir=" + self.profile]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "pageLoadStrategy": "normal",
                                                 "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}}
        self.sid = wd("POST", "/session", caps, timeout=90)["sessionId"]
        wd("POST", f"/session/{self.sid}/timeouts", {"implicit": 0, "pageLoad": 20000, "script": 15000})

    def close(self):
        try:
            wd("DELETE", f"/session/{self.sid}")
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def go(self, path):
        wd("POST", f"/session/{self.sid}/url", {"url": CONSOLE + path})

    def url(self):
        return wd("GET", f"/session/{self.sid}/url")

    def find(self, css, wait=5.0):
        """The first element matching css, waiting up to `wait` seconds; None if none."""
        end = time.time() + wait
        while True:
            try:
                v = wd("POST", f"/session/{self.sid}/element", {"using": "css selector", "value": css})
                return v[ELEMENT]
            except WebDriverError:
                if time.time() > end:
                    return None
                time.sleep(0.2)

    def text(self, css, wait=5.0):
        e = self.find(css, wait)
        return None if e is None else wd("GET", f"/session/{self.sid}/element/{e}/text")

    def type(self, css, value):
        e = self.find(css)
        if e is None:
            raise WebDriverError(f"no element {css} on {self.url()}")
        wd("POST", f"/session/{self.sid}/element/{e}/clear", {})
        wd("POST", f"/session/{self.sid}/element/{e}/value", {"text": value})

    def click(self, css):
        e = self.find(css)
        if e is None:
            raise WebDriverError(f"no element {css} on {self.url()}")
        wd("POST", f"/session/{self.sid}/element/{e}/click", {})

    def submit(self, css, wait=15.0):
        """Clicks a button or link that loads a new page, and waits until the new page is there."""
        self.js("document.documentElement.setAttribute('data-old-page', '1')")
        self.click(css)
        end = time.time() + wait
        while time.time() < end:
            try:
                if self.js("return document.readyState === 'complete' && "
                           "!document.documentElement.hasAttribute('data-old-page')"):
                    return
            except WebDriverError:
                pass  # between two pages
            time.sleep(0.1)
        raise WebDriverError(f"no new page after clicking {css} (still {self.url()})")

    def js(self, script, *args):
        return wd("POST", f"/session/{self.sid}/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        return wd("POST", f"/session/{self.sid}/execute/async", {"script": script, "args": list(args)})

    def body(self):
        return self.js("return document.body ? document.body.innerText : ''") or ""

    def cookies(self):
        return {c["name"]: c for c in wd("GET", f"/session/{self.sid}/cookie")}

    def shot(self, name):
        """The whole page (the window grown to its height, at most 2400 px), as docs/screenshots/NAME.png."""
        h = self.js("return Math.min(2400, Math.max(1000, document.documentElement.scrollHeight))") or 1000
        wd("POST", f"/session/{self.sid}/window/rect", {"width": 1400, "height": int(h) + 90})
        png = base64.b64decode(wd("GET", f"/session/{self.sid}/screenshot"))
        wd("POST", f"/session/{self.sid}/window/rect", {"width": 1400, "height": 1000})
        with open(os.path.join(SHOTS, name + ".png"), "wb") as f:
            f.write(png)

    def login(self, user, password):
        self.go("/login")
        self.type("#user", user)
        self.type("#password", password)
        self.submit("#login")

    def set_language(self, code):
        """Through the language switch link, until the page is in `code`."""
        for _ in range(2):
            if self.js("return document.documentElement.lang") == code:
                return
            self.submit("#lang-switch")


def wait_for(what, fn, seconds):
    end = time.time() + seconds
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.5)


def post_with_cookie(path, fields, cookie):
    """A POST outside the browser (curl-like) carrying the session cookie: for CSRF checks."""
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(CONSOLE + path, data=data, method="POST",
                                 headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=15) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def pending_ids():
    return [int(x) for x in sql("SELECT string_agg(id::text, ' ' ORDER BY id) FROM vasscm.outbox WHERE status = 'pending_approval' AND message_type = '14'").split()]


def case_wrong_password():
    print("wrong password, no vasscm role: refused")
    b = Browser()
    try:
        b.login("c_operator", "not-the-password")
        err = b.text("#login-error", 5) or ""
        check("wrong password: the login page says so", "Sai tên đăng nhập hoặc mật khẩu" in err or "Wrong user name" in err, err)
        check("wrong password: no session cookie", "vasscm_session" not in b.cookies(), b.cookies().keys())
        b.shot("login")
        b.go("/monitor")
        check("wrong password: the monitor is not reachable (back to login)", b.url().endswith("/login"), b.url())
        b.login("c_nobody", PASSWORDS["c_nobody"])
        err = b.text("#login-error", 5) or ""
        check("a role without any vasscm role cannot log in", "vasscm" in err, err)
    finally:
        b.close()


def case_reader():
    print("reader: sees, cannot act")
    b = Browser()
    try:
        b.login("c_reader", PASSWORDS["c_reader"])
        check("reader lands on the monitor", b.url().endswith("/monitor"), b.url())
        b.set_language("vi")
        who = b.text("#who") or ""
        check("reader's role shown (Vietnamese)", "c_reader" in who and "chỉ xem" in who, who)
        depth = b.text("#queue-depth", 5) or ""
        check("reader sees the queue depth with the pending messages", "chờ duyệt" in depth and "14" in depth, depth)
        health = b.text("#worker-health", 5) or ""
        check("reader sees the worker healthy (its /healthz)", "healthz 200" in health, health)
        metrics = b.text("#worker-metrics", 5) or ""
        check("reader sees the worker's metrics", "vasscm_worker_hsm_up" in metrics and "vasscm_outbox_messages" in metrics, metrics[:200])
        b.set_language("en")
        check("language switch: the monitor in English", "Exchange monitor" in (b.text("main h1") or "") and
              "pending approval" in (b.text("#queue-depth") or ""), b.text("main h1"))
        b.set_language("vi")
        check("language switch: back in Vietnamese", "Giám sát" in (b.text("main h1") or ""), b.text("main h1"))

        cookies = b.cookies()
        sc = cookies.get("vasscm_session", {})
        check("session cookie is HttpOnly and SameSite=Strict", sc.get("httpOnly") is True and sc.get("sameSite") == "Strict", sc)
        check("scripts cannot read the session cookie", "vasscm_session" not in (b.js("return document.cookie") or ""), "")

        ids = pending_ids()
        target = ids[0]
        b.go("/messages")
        b.submit(f"#approve-{target}")
        flash = b.text("#flash", 10) or ""
        check("reader is refused approve, with PostgreSQL's reason", "PostgreSQL từ chối" in flash and "permission denied" in flash, flash)
        check("... and the message is still pending approval",
              sql(f"SELECT status FROM vasscm.outbox WHERE id = {target}") == "pending_approval", "")
        aid = sql("SELECT min(id) FROM vasscm.outbox WHERE status = 'accepted'")
        b.go(f"/messages/{aid}")
        refused = b.text("#log-refused", 5) or ""
        hist = b.text("#history", 5) or ""
        check("reader sees a message's history but not the signed message log",
              "vasscm_admin" in refused and "hải quan chấp nhận" in hist, (refused, hist))

        b.go("/audit")
        b.submit("#verify-audit")
        res = b.text("#verify-result", 10) or ""
        check("reader is refused verify_audit", "permission denied for function verify_audit" in res, res)

        b.go("/clearance")
        b.type("#gate-container", "MSKU1234565")
        b.type("#gate-carrier-seal", "ML555")
        b.submit("#gate-check")
        decision = b.text("#gate-decision", 10) or ""
        check("gate refusal shown as NOT ALLOWED", "KHÔNG ĐƯỢC RA CỔNG" in decision, decision)
        check("... with customs' reason (carrier seal, both languages)",
              "Niêm phong hãng tàu ML555 không khớp dữ liệu hải quan (ML100001)" in decision and
              "carrier seal ML555 does not match customs data (ML100001)" in decision, decision)
        b.shot("gate-refused")
        b.type("#gate-container", "TGHU7654320")
        b.type("#gate-carrier-seal", "ML100002")
        b.submit("#gate-check")
        decision = b.text("#gate-decision", 10) or ""
        check("a container selected for scanning is refused for that reason",
              "KHÔNG ĐƯỢC RA CỔNG" in decision and "has not been scanned" in decision, decision)
        b.type("#gate-container", "MSKU1234565")
        b.type("#gate-carrier-seal", "ML100001")
        b.submit("#gate-check")
        decision = b.text("#gate-decision", 10) or ""
        check("the right seal: allowed", "ĐƯỢC PHÉP RA CỔNG" in decision and "KHÔNG" not in decision, decision)

        b.go("/clearance?by=declaration&q=308044805740")
        rows = b.text("#clearance", 5) or ""
        check("lookup by declaration: both containers, green channel", "MSKU1234565" in rows and "TGHU7654320" in rows and "luồng xanh" in rows, rows)
        b.go("/clearance?by=bl&q=HPBL0002")
        rows = b.text("#clearance", 5) or ""
        check("lookup by B/L: the bulk declaration", "101234567892" in rows, rows)

        b.go("/yard?kind=container&state=eligible")
        rows = b.text("#yard", 5) or ""
        check("yard report filtered: eligible containers only", "MSKU1234565" in rows and "HPBL0002" not in rows, rows)
        b.shot("yard")
        csv = b.js_async("var done = arguments[arguments.length - 1];"
                         "fetch(document.getElementById('yard-csv').getAttribute('href'), {credentials: 'same-origin'})"
                         ".then(function (r) { return r.text().then(function (t) { done(r.headers.get('content-type') + '\\n' + t); }); })"
                         ".catch(function (e) { done('ERR ' + e); });") or ""
        check("CSV export of the same filter", csv.startswith("text/csv") and "container_no" in csv and "MSKU1234565" in csv
              and "HPBL0002" not in csv, csv[:200])
        b.submit("#logout")
        b.find("#login", 5)
        check("logout ends the session", b.url().endswith("/login") and "vasscm_session" not in b.cookies(), b.url())
        b.go("/messages")
        check("after logout the pages need a login again", b.url().endswith("/login"), b.url())
        status, _ = post_with_cookie(f"/messages/{target}/approve", {"csrf": "x"}, f"vasscm_session={sc.get('value')}")
        check("the old session id is dead on the server too", status == 303, status)
    finally:
        b.close()


def case_operator():
    print("operator: approves and watches the message go, CSRF")
    b = Browser()
    try:
        b.login("c_operator", PASSWORDS["c_operator"])
        b.set_language("en")
        # the live monitor refreshes its fragment without reloading the page
        b.js("window.__notReloaded = 42;")
        first = b.text("#live-updated") or ""
        changed = wait_for("live refresh", lambda: (b.text("#live-updated", 1) or first) != first, REFRESH * 4 + 5)
        check("the monitor refreshes live (fragment changed)", bool(changed), first)
        check("... without reloading the page", b.js("return window.__notReloaded") == 42, "")
        dl = b.text("#deadlines") or ""
        check("the monitor shows the missed deadline (list 01 late before the ETA)", "01" in dl and "late" in dl and "9321483/245N" in dl, dl)
        b.shot("monitor")

        ids = pending_ids()
        target, other = ids[0], ids[1]
        session = b.cookies().get("vasscm_session", {}).get("value", "")
        status, body = post_with_cookie(f"/messages/{target}/approve", {}, f"vasscm_session={session}")
        check("POST without the CSRF token: refused (403)", status == 403 and "csrf-refused" in body, (status, body[:200]))
        status, body = post_with_cookie(f"/messages/{target}/approve", {"csrf": "0" * 64}, f"vasscm_session={session}")
        check("POST with a wrong CSRF token: refused (403)", status == 403, status)
        check("... and the operator's message was not approved", sql(f"SELECT status FROM vasscm.outbox WHERE id = {target}") == "pending_approval", "")

        b.go("/messages")
        b.shot("messages")
        b.submit(f"#approve-{target}")
        flash = b.text("#flash", 10) or ""
        check("operator approves a pending message", f"Message {target}" in flash and "approved" in flash, flash)
        def status_now():
            b.go(f"/messages/{target}")
            return b.text("#message-status", 2) or ""
        st = wait_for("accepted", lambda: status_now() == "accepted", 30)
        check("operator watches it queued, signed, sent and accepted by customs", st, b.text("#message-status", 1))
        hist = b.text("#history") or ""
        check("its history shows the operator's approval", "c_operator" in hist and "approved" in hist, hist)

        b.go("/messages")
        b.type(f"#reason-{other}", "duplicate gate-in from the TOS")
        b.submit(f"#reject-{other}")
        flash = b.text("#flash", 10) or ""
        check("operator rejects another with a reason", "rejected" in flash and "cancelled" in flash, flash)
        check("... recorded with the operator as actor",
              sql(f"SELECT count(*) FROM vasscm.outbox_history WHERE outbox_id = {other} AND actor = 'c_operator' "
                  "AND reason = 'rejected by operator: duplicate gate-in from the TOS'") == "1", "")

        bad = sql("SELECT min(id) FROM vasscm.outbox WHERE status = 'invalid'")
        b.go("/messages")
        inv = b.text("#invalid", 5) or ""
        check("invalid messages listed with their reasons", "check_digit" in inv, inv)
        b.submit(f"#requeue-{bad}")
        flash = b.text("#flash", 10) or ""
        check("requeue of still-bad data: checked again, stays invalid", "requeued" in flash and "invalid" in flash, flash)

        b.go("/messages?q=MSKU1234565")
        found = b.text("#found", 5) or ""
        check("search by container finds its port messages", "14" in found, found)
        inbox = b.text("#inbox-found", 5) or ""
        check("... and customs' messages about it (form 04)", "04" in inbox, inbox)
        tid = sql(f"SELECT transaction_id FROM vasscm.outbox WHERE id = {target}")
        b.go("/messages?q=" + tid.upper())
        check("search by transaction id", str(target) in (b.text("#found", 5) or ""), b.text("#found", 1))
        b.go("/messages?q=308044805740")
        check("search by declaration finds the customs message", "04" in (b.text("#inbox-found", 5) or ""), "")
    finally:
        b.close()


def case_admin():
    print("admin: the whole life of a message, audit verification")
    b = Browser()
    try:
        b.login("c_admin", PASSWORDS["c_admin"])
        b.set_language("en")
        mid = sql("SELECT min(id) FROM vasscm.outbox WHERE status = 'accepted' AND message_type = 'CHECK_CONTAINER'")
        b.go(f"/messages/{mid}")
        kinds = b.js("return Array.prototype.map.call(document.querySelectorAll('#log-section details'), function (d) { return d.getAttribute('data-kind'); })") or []
        check("admin sees what was signed and what customs replied", "signed" in kinds and "reply" in kinds, kinds)
        b.js("document.querySelectorAll('#log-section details').forEach(function (d) { d.open = true; })")
        log = b.text("#log-section") or ""
        check("... the signed XML carries the signature", "SignatureValue" in log, log[:200])
        ans = b.text("#answers-section") or ""
        check("... and customs' answer to the query (CHECK_RESULT)", "CHECK_RESULT" in ans, ans[:200])
        b.shot("message")
        b.go("/audit")
        b.submit("#verify-audit")
        verdict = b.text("#audit-verdict", 15) or ""
        check("admin verifies the audit chains: intact", "intact" in verdict, verdict)
        res = b.text("#verify-result") or ""
        check("... both chains with their heads", "message_log" in res and "outbox_history" in res, res)
        chain = b.text("#console-chain") or ""
        check("admin sees the console's own log, its chain intact", "intact" in chain, chain)
        b.shot("audit")
    finally:
        b.close()


def case_worker_role():
    print("worker role: only what vasscm_worker may read")
    b = Browser()
    try:
        b.login("c_worker", PASSWORDS["c_worker"])
        b.set_language("en")
        body = b.body()
        check("the worker role is refused the monitoring views", "permission denied for view queue_depth" in body, body[:300])
        b.go("/clearance?by=container&q=MSKU1234565")
        body = b.body()
        check("... and the clearance state", "Refused by PostgreSQL" in body and "permission denied" in body, body[:300])
    finally:
        b.close()


def case_incidents():
    print("incidents: an operator opens one, records the notification and paper lists; a reader is refused")
    b = Browser()
    iid = None
    try:
        b.login("c_operator", PASSWORDS["c_operator"])
        b.set_language("en")
        b.go("/incidents")
        b.type("#cause", "Customs reports VASSCM not accepting messages")
        b.submit("#open-incident")
        flash = b.text("#flash", 10) or ""
        iid = sql("SELECT max(id) FROM vasscm.incident WHERE closed_at IS NULL AND opened_by = 'c_operator'")
        check("operator opens an incident (its page, the flash)", iid != "" and b.url().endswith(f"/incidents/{iid}")
              and f"Incident {iid}" in flash and "opened" in flash, (b.url(), flash))
        rec = b.text("#incident", 5) or ""
        state = b.text('#incident td[data-col="state"]', 2) or ""
        check("... notification deadline running, not notified", state == "running" and "c_operator" in rec, (state, rec))
        b.type("#notify-how", "telephone")
        b.type("#notify-officer", "Lê Thị Thu")
        b.submit("#record-notification")
        flash = b.text("#flash", 10) or ""
        check("operator records the notification", "notification recorded" in flash, flash)
        check("... in the database, by the operator",
              sql(f"SELECT notified_how || '/' || notified_officer || '/' || notified_by FROM vasscm.incident WHERE id = {iid}")
              == "telephone/Lê Thị Thu/c_operator", "")
        rec = b.text("#incident", 5) or ""
        state = b.text('#incident td[data-col="state"]', 2) or ""
        check("... shown: notified in time", "Lê Thị Thu" in rec and state == "ok", (state, rec))

        b.type("#paper-officer", "Nguyễn Văn Hải")
        b.type("#paper-reference", "DS-36/00")
        b.type("#paper-items", "MSKU1234560\nHPBL0002,lots")
        b.submit("#record-paper-list")
        flash = b.text("#flash", 10) or ""
        check("a wrong paper list is refused with PostgreSQL's words (every bad line)",
              "Not done" in flash and "paper list DS-36/00 has 2 problem(s)" in flash and "ISO 6346" in flash
              and "weight_kg must be a number" in flash, flash)
        check("... nothing recorded", sql("SELECT count(*) FROM vasscm.paper_list WHERE reference = 'DS-36/00'") == "0", "")

        b.type("#paper-officer", "Nguyễn Văn Hải")
        b.type("#paper-reference", "DS-36/01")
        b.type("#paper-items", "TGHU7654320\n308044805740\nHPBL0002,2390\n")
        b.submit("#record-paper-list")
        flash = b.text("#flash", 10) or ""
        check("operator records a paper list", "paper list recorded" in flash and "DS-36/01 (3)" in flash, flash)
        check("... its three lines parsed into container, declaration, B/L with weight",
              sql("SELECT string_agg(concat_ws('|', x.item_no, x.container_no, x.declaration_no, x.bl_no, x.weight_kg), ' ' ORDER BY x.item_no) "
                  f"FROM vasscm.paper_list p JOIN vasscm.paper_list_item x ON x.paper_list_id = p.id WHERE p.incident_id = {iid} AND p.reference = 'DS-36/01'")
              == "1|TGHU7654320 2|308044805740 3|HPBL0002|2390", "")
        lines = b.text("#paper-items-table", 5) or ""
        check("... and sees its lines on the page", "TGHU7654320" in lines and "308044805740" in lines and "HPBL0002" in lines, lines)
        events = b.text("#events", 5) or ""
        check("... and the events: opened, notified, paper list", "opened" in events and "notified" in events and "DS-36/01" in events, events)
        log = b.text("#incident-log", 5) or ""
        check("the printable incident log (form 35) in a <pre>", "SỔ THEO DÕI SỰ CỐ" in log and "DS-36/01" in log and "Lê Thị Thu" in log,
              log[:300])
        b.shot("incidents")
        b.go("/incidents")
        rows = b.text("#incidents", 5) or ""
        check("the list shows the open incident first, notified, with its paper list",
              "Customs reports VASSCM" in rows and (b.text('#incidents tbody tr td[data-col="notified"]', 2) or "") == "yes"
              and (b.text('#incidents tbody tr td[data-col="paper_lists"]', 2) or "") == "1", rows)
        b.submit("#logout")
        b.find("#login", 5)

        b.login("c_reader", PASSWORDS["c_reader"])
        b.set_language("en")
        b.go("/incidents")
        rows = b.text("#incidents", 5) or ""
        check("a reader sees the incident", "Customs reports VASSCM" in rows, rows)
        b.go(f"/incidents/{iid}")
        b.type("#paper-officer", "Nguyễn Văn Hải")
        b.type("#paper-reference", "DS-READER")
        b.type("#paper-items", "MSKU1234565")
        b.submit("#record-paper-list")
        flash = b.text("#flash", 10) or ""
        check("a reader is refused recording a paper list, with PostgreSQL's reason",
              "Refused by PostgreSQL" in flash and "permission denied for function record_paper_list" in flash, flash)
        check("... and nothing was recorded", sql("SELECT count(*) FROM vasscm.paper_list WHERE reference = 'DS-READER'") == "0"
              and sql(f"SELECT count(*) FROM vasscm.incident_event WHERE actor = 'c_reader'") == "0", "")
        b.submit("#logout")
        b.find("#login", 5)

        b.login("c_operator", PASSWORDS["c_operator"])
        b.set_language("vi")
        b.go(f"/incidents/{iid}")
        check("the incident page in Vietnamese", "Danh sách giấy (mẫu 36)" in (b.body() or ""), "")
        b.type("#close-note", "Hải quan thông báo đã khắc phục")
        b.submit("#close-incident")
        flash = b.text("#flash", 10) or ""
        check("operator closes the incident with a note", "đã đóng" in flash, flash)
        check("... closed by the operator, its summary kept",
              sql(f"SELECT closed_by = 'c_operator' AND summary IS NOT NULL AND close_reason = 'Hải quan thông báo đã khắc phục' "
                  f"FROM vasscm.incident WHERE id = {iid}") == "t", "")
        b.submit("#logout")
        b.find("#login", 5)
    finally:
        b.close()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    for case in (case_wrong_password, case_reader, case_operator, case_admin, case_worker_role, case_incidents):
        try:
            case()
        except Exception as e:  # a broken case is a failure, and the next cases still run
            check(f"{case.__name__} ran to the end", False, repr(e))
    print(f"browser: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
