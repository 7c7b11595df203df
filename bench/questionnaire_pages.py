"""Benchmark: questionnaire page weight, and questionnaire pages served per second.

* Page weight (budget: under 30 KB each, HTML plus the CSS it links, as the tests check):
  every page a respondent sees for each shipped instrument (start, each section as first
  shown, review, done), rendered in-process for a 15-year-old (self) and a parent (proxy) in
  zh-CN and English, at the instant each window opens; per page, per instrument and the max.
* Throughput (target: at least 300 questionnaire pages a second on a 2-core machine):
  gunicorn serving `wsgi:app` on 127.0.0.1 with a temporary SQLite file (WAL), 2 workers of
  1 thread each (the gthread worker, for keep-alive); 4 client connections. This is the best
  honest setting measured: more threads per worker (2x2, 2x4, 3x2) serve no more pages but wait
  on SQLite's write lock, which every transaction takes (BEGIN IMMEDIATE, reads included), and
  push p99 latency to 0.5-1.5 s; 4 workers of 1 thread serve fewer. One respondent
  session is started over HTTP from a link, as a phone does (GET the link, POST it, answer
  every section), then N GETs of /q/answer?s=k (k cycling over the sections) are driven with
  keep-alive by client threads in this process (http.client); every response is checked to be
  a 200 showing the right section. When `wrk` is installed it is run too, as a second figure
  from a load generator that takes less of the CPU the server needs.

The load generator shares this machine's two cores with the server, so the rates understate
what the server does for real phones.

    python bench/questionnaire_pages.py [requests] [--workers W] [--threads T] [--clients C]
"""

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import logs_to_devnull, scratch_database  # noqa: E402
from sqlalchemy import select  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.audit.operations import Actor  # noqa: E402
from pro_app.clock import to_local, utcnow  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.participants.operations import enrol  # noqa: E402
from pro_app.participants.validation import check_enrolment  # noqa: E402
from pro_app.protocol import current_protocol  # noqa: E402
from pro_app.questionnaires import current_instruments, views  # noqa: E402
from pro_app.questionnaires import operations as ops  # noqa: E402
from pro_app.questionnaires.models import Assignment  # noqa: E402

TARGET_RATE = 300.0  # questionnaire pages per second
BUDGET = 30 * 1024  # bytes per page, HTML + CSS
GUNICORN = Path(sys.executable).with_name("gunicorn")
TZ = "Asia/Shanghai"
STYLESHEET = re.compile(r"""<link\b[^>]*\brel=["']?stylesheet["']?[^>]*\bhref=["']([^"']+)["']""")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def enrol_family(app, study_id, lang, start, now, n):
    """A 15-year-old who answers for themself and a parent who answers as proxy."""
    raw = {"study_id": study_id, "start": start.isoformat(), "tz": TZ, "lang": lang, "age": "15",
           "phone": f"+8613800{n:06d}", "caregivers": [{"phone": f"+8613900{n:06d}", "lang": lang, "name": "P"}]}
    with app.test_request_context():
        enrolment, errors = check_enrolment(raw)
        assert not errors, errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="bench"),
              now=now, public_url=app.config["PUBLIC_URL"])
        db.session.commit()


def answers_for(section):
    """Right answers that show every follow-up question."""
    out = {}
    for item in section.items:
        if item.type in ("single", "multiple"):
            out[item.id] = str(max(v for v, _label in item.choices))
        elif item.type == "yesno":
            out[item.id] = "yes"
        elif item.type == "rating":
            out[item.id] = str(int(item.max))
        elif item.type == "number":
            out[item.id] = f"{(item.min + item.max) / 2:.{item.decimals}f}"
            if item.unit == "temperature":
                out[f"{item.id}__unit"] = "C"
        elif item.type == "date":
            out[item.id] = "2026-01-15"
        else:
            out[item.id] = "ok"
    return out


# --- page weight ------------------------------------------------------------------------------------

@contextmanager
def clock_at(holder):
    """Render the respondent's pages as of holder[0] (each window's opening), not the wall clock."""
    saved = views.utcnow
    views.utcnow = lambda: holder[0]
    try:
        yield
    finally:
        views.utcnow = saved


def weigh(client, css_cache, rows, who, page, response):
    """Record the bytes of one page: its HTML and every stylesheet it links."""
    assert response.status_code == 200, (who, page, response.status_code)
    css = 0
    for href in STYLESHEET.findall(response.get_data(as_text=True)):
        if href not in css_cache:
            css_cache[href] = len(client.get(href).get_data())
        css += css_cache[href]
    rows.append((*who, page, len(response.get_data()), css))


def page_weights(url):
    """Return [(instrument, respondent, page, html bytes, css bytes)] for every respondent page."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "PUBLIC_URL": "http://localhost"}, instance_path=tempfile.mkdtemp())
    now = utcnow()
    start = to_local(now, TZ).date() + timedelta(days=30)
    enrol_family(app, "W-ZH", "zh-CN", start, now, 1)
    enrol_family(app, "W-EN", "en", start, now, 2)
    css_cache = {}
    rows = []
    holder = [now]
    with clock_at(holder):
        for instrument in app.extensions["pro_instruments"].values():
            with app.app_context():
                chosen = {}
                for a in db.session.scalars(select(Assignment).where(Assignment.instrument_id == instrument.id)
                                            .order_by(Assignment.opens_at)):
                    chosen.setdefault((a.contact.language, a.respondent), a)
                tokens = {key: (ops.new_link(db.session, a.id, now), a.opens_at) for key, a in chosen.items()}
                db.session.commit()
            for (lang, respondent), (token, opens_at) in sorted(tokens.items()):
                holder[0] = opens_at + timedelta(minutes=1)
                client = app.test_client()
                who = (instrument.id, f"{lang}/{respondent}")
                weigh(client, css_cache, rows, who, "start", client.get(f"/q/{token}"))
                client.post(f"/q/{token}")
                for index, section in enumerate(instrument.sections):
                    weigh(client, css_cache, rows, who, f"section {index + 1}", client.get(f"/q/answer?s={index}"))
                    assert client.post("/q/answer", data={"s": str(index), **answers_for(section)}).status_code == 303
                review = client.get("/q/review")
                weigh(client, css_cache, rows, who, "review", review)
                key = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True)).group(1)
                client.post("/q/submit", data={"submit_key": key})
                weigh(client, css_cache, rows, who, "done", client.get("/q/done"))
    app.extensions["pro_db"]["engine"].dispose()
    return rows


def report_weights(rows):
    print(f"{'page weight (bytes)':<52} {'HTML':>7} {'CSS':>7} {'total':>7}")
    for instrument in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == instrument]
        pages = sorted({r[2] for r in mine}, key=lambda p: (p != "start", p == "done", p == "review", p))
        for page in pages:
            html = max(r[3] for r in mine if r[2] == page)  # the heaviest of the four respondents
            css = max(r[4] for r in mine if r[2] == page)
            print(f"  {instrument + ' ' + page:<50} {html:7d} {css:7d} {html + css:7d}")
    heaviest = max(rows, key=lambda r: r[3] + r[4])
    total = heaviest[3] + heaviest[4]
    verdict = "met" if total < BUDGET else "MISSED"
    print(f"{'heaviest questionnaire page':<52} {total:7d} B ({heaviest[0]} {heaviest[2]}, {heaviest[1]})   "
          f"budget < {BUDGET} B: {verdict} ({total / BUDGET:.2f}x the budget)")


# --- throughput under gunicorn ---------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Just enough of a phone's browser: one keep-alive connection and the session cookie.

    `origin` is sent with forms, as a browser does over https."""

    def __init__(self, conn, origin=None):
        self.conn = conn
        self.origin = origin
        self.cookie = ""

    def request(self, method, path, form=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if self.origin:
                headers["Origin"] = self.origin
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for header in response.msg.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        return response.status, response.getheader("Location"), text


def over_http(port):
    """A function that opens a new Browser on the server at 127.0.0.1:port."""
    return lambda: Browser(http.client.HTTPConnection("127.0.0.1", port, timeout=30))


def prepare_server_data(url, port):
    """Enrol one participant whose baseline windows are open now; return (token, instrument)."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "PUBLIC_URL": f"http://127.0.0.1:{port}"},
                     instance_path=tempfile.mkdtemp())
    now = utcnow()
    # Quality of life opens on day -7 at 09:00 and closes on day 1 at 08:00: open all the next days.
    enrol_family(app, "T-1", "zh-CN", to_local(now, TZ).date() + timedelta(days=3), now, 3)
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "quality-of-life",
                                                       Assignment.respondent == "self"))
        assert a.is_open_at(now), (a.opens_at, a.closes_at, now)
        token = ops.new_link(db.session, a.id, now)
        db.session.commit()
    instrument = app.extensions["pro_instruments"]["quality-of-life"]
    app.extensions["pro_db"]["engine"].dispose()
    return token, instrument


@contextmanager
def gunicorn(url, port, workers, threads, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRO_", "FLASK_"))}
    env.update({"PRO_DATABASE_URL": url, "PRO_SECRET_KEY": "bench", "PRO_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    command = [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class",
               "gthread", "--threads", str(threads), "--keep-alive", "30", "--log-level", "warning", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start (exit {server.poll()}); see {log.name}")
            time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(30)


def start_session(connect, token, instrument):
    """Open the link, start, and answer every section in a new Browser; return the session cookie."""
    phone = connect()
    status, _loc, page = phone.request("GET", f"/q/{token}")
    assert status == 200, status
    status, location, _page = phone.request("POST", f"/q/{token}", {"csrf_token": CSRF.search(page).group(1)})
    assert status == 303 and location.endswith("/q/answer"), (status, location)
    for index, section in enumerate(instrument.sections):
        status, _loc, page = phone.request("GET", f"/q/answer?s={index}")
        assert status == 200, status
        form = {"csrf_token": CSRF.search(page).group(1), "s": str(index), **answers_for(section)}
        status, location, page = phone.request("POST", "/q/answer", form)
        assert status == 303, (status, page[:500])
    return phone.cookie


def drive(connect, cookie, titles, total, clients):
    """GET /q/answer?s=k `total` times from `clients` Browsers with this session; return (seconds, latencies).

    Every answer must be a 200 holding titles[k]."""
    latencies = [[] for _ in range(clients)]
    errors = []
    per_client = total // clients
    go = threading.Barrier(clients + 1)

    def run(n):
        phone = connect()
        phone.cookie = cookie
        phone.request("GET", "/q/answer?s=0")  # opening the connection (a TLS handshake) is not measured
        mine = latencies[n]
        go.wait()
        for i in range(per_client):
            k = (n + i) % len(titles)
            started = time.perf_counter()
            status, _location, page = phone.request("GET", f"/q/answer?s={k}")
            mine.append(time.perf_counter() - started)
            if status != 200 or titles[k] not in page:
                errors.append((k, status, page[:200]))
                return
        phone.conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} wrong responses, e.g. {errors[0]}")
    return elapsed, [x for xs in latencies for x in xs]


WRK_SCRIPT = """
local sections = %d
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/q/answer?s=" .. (n %% sections), {["Cookie"] = "%s"})
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%.3f %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def run_wrk(port, cookie, sections, seconds, connections, tmp):
    """Return (requests, seconds, failed, p50, p95, p99, max in ms) from a wrk run."""
    script = Path(tmp) / "pages.lua"
    script.write_text(WRK_SCRIPT % (sections, cookie))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout} {out.stderr}")
    n, secs, failed, *micros = line.split()[1:]
    return int(n), float(secs), int(failed), *(int(us) / 1000 for us in micros)


def rate_line(name, n, seconds, latencies):
    rate = n / seconds
    latencies = sorted(latencies)
    median = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    verdict = "met" if rate >= TARGET_RATE else "MISSED"
    return (f"{name:<52} {rate:8.1f} pages/s   median {median:6.2f} ms   p95 {p95:6.2f} ms   n={n}   "
            f"target >= {TARGET_RATE:.0f}/s: {verdict} ({rate / TARGET_RATE:.2f}x the target)")


def throughput(tmp, total, workers, threads, clients):
    port = free_port()
    with scratch_database("sqlite", tmp) as url:
        token, instrument = prepare_server_data(url, port)
        titles = [f"<h1>{s.title['zh-CN']}</h1>" for s in instrument.sections]
        log_path = Path(tmp) / "gunicorn.log"
        with open(log_path, "w") as log, gunicorn(url, port, workers, threads, log):
            connect = over_http(port)
            cookie = start_session(connect, token, instrument)
            drive(connect, cookie, titles, min(total, 400), clients)  # warm every worker and thread
            seconds, latencies = drive(connect, cookie, titles, total, clients)
            print(rate_line(f"gunicorn {workers}x{threads} gthread, {clients} clients, SQLite file",
                            len(latencies), seconds, latencies), flush=True)
            if shutil.which("wrk"):
                n, secs, failed, p50, p95, p99, worst = run_wrk(port, cookie, len(instrument.sections), 10,
                                                                 clients, tmp)
                if failed:
                    raise SystemExit(f"wrk: {failed} of {n} requests failed or were not 200")
                rate = n / secs
                print(f"{f'same, wrk (2 threads, {clients} connections, 10 s)':<52} {rate:8.1f} pages/s   "
                      f"median {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms   max {worst:7.2f} ms   "
                      f"n={n}   target >= {TARGET_RATE:.0f}/s: {'met' if rate >= TARGET_RATE else 'MISSED'} "
                      f"({rate / TARGET_RATE:.2f}x the target)", flush=True)
            else:
                print("(wrk is not installed: `apt-get install -y wrk` adds a figure from a load generator "
                      "that takes less of the CPU the server needs)")


def main(total=6000, workers=2, threads=1, clients=4):
    with logs_to_devnull(), tempfile.TemporaryDirectory() as tmp:
        with scratch_database("sqlite", tmp) as url:
            report_weights(page_weights(url))
        throughput(tmp, total, workers, threads, clients)


if __name__ == "__main__":
    args = sys.argv[1:]

    def option(name, default):
        if name in args:
            i = args.index(name)
            value = int(args[i + 1])
            del args[i:i + 2]
            return value
        return default

    workers, threads, clients = option("--workers", 2), option("--threads", 1), option("--clients", 4)
    main(int(args[0]) if args else 6000, workers, threads, clients)
