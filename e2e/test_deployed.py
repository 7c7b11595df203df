"""The deployment as a hospital runs it, tested over https through nginx (issue 8's acceptance).

1. A family's phone (chromium at 360x740) opens the link from its text, answers 39.0 °C, sees the
   emergency advice; the on-call nurse's text reaches the gateway within 2 s; the nurse logs in
   at 1280x800, acknowledges and resolves. A second family answers the quality-of-life form.
2. /dev/phone is not there; 20 families double-tap Start and Send at once (0 x 500, one response
   each); a cookie replayed after logout gets the login page; wrong passwords from one address do
   not lock out another; the runtime role cannot switch off a trigger nor change an audit row;
   with a database that accepts and never answers, /healthz says 503 within 5 s.

People and texts come in as in production: staff and participants through the installed
`pro-app` command, every link from a text the (fake) gateway received, sent by the scheduler.
Families' dates and time zones are chosen so that their windows are open now and their local
time is daytime (texts wait out quiet hours).
"""

import csv
import http.client
import re
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import psycopg
import pyotp
import pytest
from deployment import ROOT, free_port, insecure_tls
from playwright.sync_api import expect
from sqlalchemy.engine import make_url

from pro_app.questionnaires.instruments import load_instruments

PASSWORD = "a long enough staff password"
NURSE, NURSE_PHONE = "nurse@example-hospital.cn", "+8613900000001"
INVESTIGATOR = "investigator@example-hospital.cn"
INSTRUMENTS = load_instruments([ROOT / "questionnaires"])
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "ignore_https_errors": True}
DESK = {"viewport": {"width": 1280, "height": 800}, "ignore_https_errors": True, "locale": "en-US"}
TIMEOUT_MS = 15_000
CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
# Whole-hour zones around the world: one of them has daytime now.
ZONES = ["Asia/Shanghai", "Asia/Tokyo", "Australia/Brisbane", "Pacific/Noumea", "Pacific/Auckland",
         "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
         "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Paris",
         "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok"]


def daytime_zone():
    """The zone (Shanghai when it can) where it is nearest to early afternoon now."""
    now = datetime.now(UTC)

    def distance(zone):
        local = now.astimezone(ZoneInfo(zone))
        return abs(local.hour + local.minute / 60 - 13.5)
    best = min(ZONES, key=distance)
    return "Asia/Shanghai" if distance("Asia/Shanghai") <= 3 else best


def local_today(zone):
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


# --- the gateway and the links in its texts -----------------------------------------------------------

def links_in_texts(deployment, number):
    pattern = re.compile(re.escape(deployment.base) + r"(/q/[A-Za-z0-9_-]+)")
    return [m.group(1) for sent in deployment.fake.messages_to(number) for m in pattern.finditer(sent["body"])]


def invitation(deployment, number, instrument_id, lang="en", source="127.0.0.1", seconds=60):
    """Wait for the scheduler's text with a link to this instrument; return (the link's path, the
    form fields that start it there): none on its own start page, its assignment on the list a
    text inviting to several questionnaires links to."""
    title = INSTRUMENTS[instrument_id].title[lang]
    listed = re.compile(rf"<h2>{re.escape(title)}</h2>(?:(?!</li>).)*?name=\"a\" value=\"(\d+)\"", re.S)
    deadline = time.monotonic() + seconds
    checked = set()
    while time.monotonic() < deadline:
        for path in links_in_texts(deployment, number):
            if path in checked:
                continue
            checked.add(path)
            # Opening a link's page consumes nothing (chat apps prefetch links).
            status, _location, page = Client(deployment, source).request("GET", path)
            if status == 200 and f"<h1>{title}</h1>" in page:
                return path, {}
            on_list = listed.search(page) if status == 200 else None
            if on_list:
                return path, {"a": on_list.group(1)}
        time.sleep(0.5)
    raise AssertionError(f"no {instrument_id} link texted to {number} within {seconds} s: "
                         f"{deployment.fake.messages_to(number)}")


# --- staff sign-in: password, then the authenticator (two-factor is on, as in production) -------------

SECRETS, LAST_STEP = {}, {}


def authenticator_code(email):
    """The next code the nurse's authenticator app shows (each code signs in once)."""
    totp = pyotp.TOTP(SECRETS[email])
    step = totp.timecode(datetime.now(UTC))
    if LAST_STEP.get(email, -1) >= step:
        time.sleep(30 - time.time() % 30 + 0.5)  # wait for the app's next code
        step = totp.timecode(datetime.now(UTC))
    LAST_STEP[email] = step
    return totp.generate_otp(step)


def sign_in_in_browser(page, base, email, password):
    """Log in at /staff/login; set up the authenticator the first time, type its code after that."""
    page.goto(base + "/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/staff/(two-factor|login/code)"))
    if "/two-factor" in page.url:
        SECRETS[email] = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("The 6-digit code your authenticator app shows").fill(authenticator_code(email))
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        page.get_by_role("link", name="I have kept my recovery codes").click()
    else:
        page.get_by_label("Code from your authenticator app, or a recovery code").fill(authenticator_code(email))
        page.get_by_role("button", name="Sign in").click()


# --- a client that is not a browser: one phone or desk, its own source address -----------------------

class Client:
    """Requests over TLS to nginx from a given loopback address, with a cookie jar."""

    def __init__(self, deployment, source="127.0.0.1"):
        self.deployment, self.source = deployment, source
        self.cookies = {}

    def request(self, method, path, form=None, cookies=None):
        jar = self.cookies if cookies is None else cookies
        conn = http.client.HTTPSConnection("127.0.0.1", self.deployment.https_port, timeout=30,
                                           context=insecure_tls(), source_address=(self.source, 0))
        headers = {}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.deployment.base  # what a browser sends with a form over https
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if cookies is None:
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in header.lower() and "1970" not in header:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.getheader("Location"), text

    def form_token(self, path):
        status, _location, page = self.request("GET", path)
        assert status == 200, (path, status, page[:300])
        return CSRF.search(page).group(1)

    def log_in(self, email, password):
        """The password; then, when it was right, the authenticator (set up the first time)."""
        token = self.form_token("/staff/login")
        status, location, page = self.request("POST", "/staff/login",
                                              {"csrf_token": token, "email": email, "password": password})
        if status != 303 or not re.search(r"/staff/(two-factor|login/code)", location or ""):
            return status, location, page
        path = "/staff/two-factor" if "two-factor" in location else "/staff/login/code"
        status, _location, form = self.request("GET", path)
        assert status == 200, (path, status)
        if path == "/staff/two-factor":
            SECRETS[email] = re.search(r'<code id="totp-secret">([^<]+)</code>', form).group(1).strip()
        token = CSRF.search(form).group(1)
        status, location, page = self.request("POST", path, {"csrf_token": token, "code": authenticator_code(email)})
        if path == "/staff/two-factor":  # the recovery codes, then on
            assert status == 200 and "I have kept my recovery codes" in page, (status, main_text(page))
            return 303, "/staff/", page
        return status, location, page


def main_text(page):
    """The words of a page's <main>, for failure messages."""
    found = re.search(r"<main[^>]*>(.*?)</main>", page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1) if found else page))[:500]


def lowest_answers(section):
    """The mildest answer to every question of a section (no follow-up questions then)."""
    out = {}
    for item in section.items:
        if item.type in ("single", "rating"):
            out[item.id] = str(min(v for v, _label in item.choices) if item.type == "single" else int(item.min))
        elif item.type == "yesno":
            out[item.id] = "no"
    return out


# --- a phone in chromium ------------------------------------------------------------------------------

def mildest(values):
    if "no" in values:
        return "no"
    try:
        return min(values, key=float)
    except ValueError:
        return values[0]


def tap_mildest(page, fieldset):
    radios = fieldset.locator("input[type=radio]")
    values = [radios.nth(i).get_attribute("value") for i in range(radios.count())]
    if values:  # numbers, dates and text are optional here
        fieldset.locator("label.option").filter(has=page.locator(f'input[value="{mildest(values)}"]')).click()


def answer_visible_questions(page, given=None):
    """Tap the mildest answer of every question on the page, as a person would, unless given."""
    given = given or {}
    for fieldset in page.locator("fieldset.q-item").all():
        if not fieldset.is_visible():
            continue
        name = fieldset.get_attribute("id").removeprefix("item-")
        if name in given:
            given[name](fieldset)
        elif "conditional" not in (fieldset.get_attribute("class") or ""):
            tap_mildest(page, fieldset)  # follow-ups wait: the page says which ones it needs


def next_page(page, words):
    """Tap Next (or Continue); when the page asks for a follow-up answer, give it and tap again.

    Returns the time of the tap that the page accepted."""
    for _ in range(3):
        button = page.get_by_role("button", name=words["next"], exact=True)
        if button.count() == 0:
            button = page.get_by_role("button", name=words["continue"], exact=True)
        tapped = time.time()
        button.click()
        page.wait_for_load_state()
        if page.locator(".error-summary").count() == 0:
            return tapped
        for fieldset in page.locator("fieldset.q-item.has-error").all():
            tap_mildest(page, fieldset)
    raise AssertionError(page.locator("main").inner_text())


def through_the_sections(page, words, given=None):
    """Answer page after page until the review page."""
    for _ in range(20):
        if page.url.endswith("/q/review"):
            return
        answer_visible_questions(page, given)
        next_page(page, words)
    raise AssertionError(f"never reached the review page: {page.url}")


WORDS = {"en": {"start": "Start", "next": "Next", "continue": "Continue", "send": "Send my answers"},
         "zh-CN": {"start": "开始", "next": "下一页", "continue": "继续", "send": "提交我的答案"}}


def db_rows(deployment, sql, *params):
    """Read the deployment's database as the superuser (checks only)."""
    url = make_url(deployment.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def staff(deployment):
    """The on-call nurse and an investigator, made with the installed command."""
    for email, role, extra in [(NURSE, "nurse", ["--phone", NURSE_PHONE, "--on-call"]),
                               (INVESTIGATOR, "investigator", [])]:
        deployment.run("staff", "pro-app", "staff", "create", email, "--role", role, "--lang", "en", *extra,
                       input=f"{PASSWORD}\n{PASSWORD}\n")
    return NURSE


# --- acceptance 1 ---------------------------------------------------------------------------------------

def test_fever_reaches_the_nurse_who_resolves_it(deployment, staff, browser, shots):
    zone = daytime_zone()
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    # The after-infusion check opens at 18:00 on the infusion day and closes at 21:00 the next:
    # day 1 (the first infusion) is today from 18:00, else yesterday.
    start = local.date() if local.hour >= 18 else local.date() - timedelta(days=1)
    family = "+8613800000001"
    deployment.run("participants", "pro-app", "participant", "add", "E2E-RED", "--start", start.isoformat(),
                   "--tz", zone, "--lang", "en", "--phone", family)
    # The after-infusion check is sent once a nurse records the infusion as given.
    ((visit_id,),) = db_rows(deployment, "SELECT v.id FROM visits v JOIN participants p ON p.id = v.participant_id "
                                         "WHERE p.study_id = 'E2E-RED' AND v.kind = 'infusion' AND v.dose_number = 1")
    desk = Client(deployment)
    assert desk.log_in(NURSE, PASSWORD)[0] == 303
    token = desk.form_token(f"/staff/visits/{visit_id}")
    status, _location, page = desk.request("POST", f"/staff/visits/{visit_id}/status",
                                           {"csrf_token": token, "status": "done", "reason": "First infusion given."})
    assert status == 303, main_text(page)
    link, fields = invitation(deployment, family, "post-infusion")
    assert not fields  # a questionnaire invited on its own has a link of its own

    context = browser.new_context(**PHONE, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(deployment.base + link)
        assert page.url.startswith("https://")
        expect(page.locator("h1")).to_have_text(INSTRUMENTS["post-infusion"].title["en"])
        shots(page, "family-start")
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_url(re.compile(r"/q/answer"))
        assert "/q/answer" in page.url and link not in page.url  # the token left the address bar

        def fever(fieldset):
            fieldset.locator("input[inputmode=decimal]").fill("39.0")
            fieldset.locator("select").select_option("C")
        answer_visible_questions(page, {"temperature": fever})
        shots(page, "family-fever")
        before = len(deployment.fake.messages_to(NURSE_PHONE))
        tapped = next_page(page, WORDS["en"])
        page.wait_for_url(re.compile(r"/q/advice$"))
        expect(page.locator(".emergency[role=alert]")).to_be_visible()
        expect(page.locator(".emergency h2")).to_have_text("Some answers need a doctor now")
        shots(page, "family-emergency-advice")
        deployment.fake.wait_for(lambda m: m["to"] == NURSE_PHONE, timeout=5.0)
        texts = deployment.fake.messages_to(NURSE_PHONE)
        assert len(texts) == before + 1, texts
        nurse_text = texts[-1]
        waited = nurse_text["received_at"] - tapped
        assert waited <= 2.0, f"the nurse's text reached the gateway {waited:.2f} s after the tap"
        body = nurse_text["body"]
        assert "E2E-RED" in body and deployment.base + "/staff/alerts/" in body, body
        assert not re.search(r"39\.0|°|fever|temperature|发热|体温", body, re.I), body  # never the answer
    finally:
        context.close()

    desk = browser.new_context(**DESK)
    try:
        page = desk.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        sign_in_in_browser(page, deployment.base, NURSE, PASSWORD)
        page.goto(deployment.base + "/staff/alerts/")
        row = page.locator("table.worklist tbody tr.alert-red").filter(has_text="E2E-RED")
        expect(row).to_have_count(1)
        shots(page, "nurse-worklist")
        row.locator("td").nth(2).get_by_role("link").click()
        page.wait_for_url(re.compile(r"/staff/alerts/\d+$"))
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("dl.facts")).to_contain_text("acknowledged")
        page.get_by_label("Action taken").select_option("advised_hospital_visit")
        page.get_by_label("Note").fill("Called the family; advised the emergency department.")
        page.locator("form[action$='/resolve'] button[type=submit]").click()
        expect(page.locator("dl.facts")).to_contain_text("resolved")
        shots(page, "nurse-resolved")
    finally:
        desk.close()
    states = db_rows(deployment, "SELECT a.state, a.severity FROM alerts a "
                                 "JOIN participants p ON p.id = a.participant_id "
                                 "WHERE p.study_id = 'E2E-RED' AND a.severity = 'red'")
    assert states == [("resolved", "red")], states


def test_a_second_family_answers_quality_of_life_in_chinese(deployment, browser, shots):
    zone = daytime_zone()
    family = "+8613800000002"
    # Baseline forms are open from day -7 at 09:00 to day 1 at 08:00: day 1 in three days.
    deployment.run("participants", "pro-app", "participant", "add", "E2E-QOL", "--start",
                   (local_today(zone) + timedelta(days=3)).isoformat(), "--tz", zone, "--lang", "zh-CN",
                   "--phone", family)
    # Baseline and quality of life open together on enrolment: one text, one link to their list.
    link, fields = invitation(deployment, family, "quality-of-life", lang="zh-CN")
    assert fields, "the two questionnaires opening together were not invited in one text"
    context = browser.new_context(**PHONE, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(deployment.base + link)
        # Chinese from the wheel's compiled catalogue, not the English msgid.
        expect(page.locator("h1")).to_have_text("您的问卷")
        shots(page, "second-family-list")
        title = INSTRUMENTS["quality-of-life"].title["zh-CN"]
        start = page.locator("li", has=page.get_by_role("heading", name=title, exact=True)).get_by_role("button")
        expect(start).to_have_text(f"开始: {title}")
        start.click()
        through_the_sections(page, WORDS["zh-CN"])
        shots(page, "second-family-review")
        page.get_by_role("button", name="提交我的答案", exact=True).click()
        page.wait_for_url(re.compile(r"/q/done$"))
        shots(page, "second-family-done")
    finally:
        context.close()
    rows = db_rows(deployment, "SELECT r.instrument_id FROM responses r JOIN participants p ON p.id = r.participant_id "
                               "WHERE p.study_id = 'E2E-QOL'")
    assert rows == [("quality-of-life",)], rows


# --- the nginx site ------------------------------------------------------------------------------------

def test_nginx_redirects_to_https_and_serves_static_files_for_a_year(deployment):
    conn = http.client.HTTPConnection("127.0.0.1", deployment.http_port, timeout=10)
    conn.request("GET", "/staff/login?next=/staff/")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 301 and response.getheader("Location") == deployment.base + "/staff/login?next=/staff/"

    status, _location, page = Client(deployment).request("GET", "/staff/login")
    assert status == 200
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', page)
    assert css, "the stylesheet's URL carries no content hash"
    conn = http.client.HTTPSConnection("127.0.0.1", deployment.https_port, timeout=10, context=insecure_tls())
    conn.request("GET", css.group(1), headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
    assert "immutable" in response.getheader("Cache-Control") and response.getheader("Expires")
    assert len(body) < (ROOT / "static" / "app.css").stat().st_size / 2  # compressed
    # Pages come from gunicorn, which sees https (X-Forwarded-Proto): Secure cookies, HSTS.
    conn = http.client.HTTPSConnection("127.0.0.1", deployment.https_port, timeout=10, context=insecure_tls())
    conn.request("GET", "/staff/login", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    response.read()
    conn.close()
    cookies = [c for c in response.msg.get_all("Set-Cookie") or [] if not re.match(r"[^=]+=;", c)]  # not deletions
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
    assert response.getheader("Strict-Transport-Security")
    assert response.getheader("Content-Encoding") is None  # pages with CSRF tokens are not compressed


# --- acceptance 2 ---------------------------------------------------------------------------------------

def test_the_demo_phone_is_not_there(deployment):
    client = Client(deployment)
    for path in ("/dev/phone", "/dev/phone/"):
        status, _location, _page = client.request("GET", path)
        assert status == 404, (path, status)


def double_tap(client, path, form):
    """Send the same form twice at the same moment, as a double tap does; return both statuses."""
    results = [None, None]
    go = threading.Barrier(2)

    def tap(n):
        go.wait()
        results[n] = client.request("POST", path, form)
    threads = [threading.Thread(target=tap, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def family_with_double_taps(deployment, number, source, outcome):
    """One family: open the link, double-tap Start, answer, double-tap Send."""
    instrument = INSTRUMENTS["quality-of-life"]
    link, fields = invitation(deployment, number, instrument.id, source=source)
    phone = Client(deployment, source)
    token = phone.form_token(link)
    started = double_tap(phone, link, {"csrf_token": token, **fields})
    statuses = [status for status, _loc, _page in started]
    for index, section in enumerate(instrument.sections):
        token = phone.form_token(f"/q/answer?s={index}")  # a new session has its own token
        status, location, page = phone.request("POST", "/q/answer",
                                               {"csrf_token": token, "s": str(index), **lowest_answers(section)})
        assert status == 303, (number, index, status, main_text(page))
    status, _location, review = phone.request("GET", "/q/review")
    assert status == 200, (number, status)
    token = CSRF.search(review).group(1)
    key = re.search(r'name="submit_key" value="([^"]+)"', review).group(1)
    sent = double_tap(phone, "/q/submit", {"csrf_token": token, "submit_key": key})
    statuses += [status for status, _loc, _page in sent]
    outcome[number] = (statuses, [loc for _s, loc, _p in sent], phone.request("GET", "/q/done")[0])


def test_twenty_families_double_tap_start_and_send(deployment):
    zone = daytime_zone()
    start = (local_today(zone) + timedelta(days=3)).isoformat()
    numbers = [f"+86138000001{n:02d}" for n in range(20)]
    path = deployment.work / "families.csv"
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["study_id", "start", "tz", "lang", "age", "phone", "caregiver_phone", "caregiver_lang",
                      "caregiver_name"])
        for n, number in enumerate(numbers):
            out.writerow([f"E2E-TAP-{n:02d}", start, zone, "en", "", number, "", "", ""])
    deployment.run("participants", "pro-app", "participant", "import", str(path))

    outcome, errors = {}, []

    def run(n, number):
        try:
            # Each family's phone has an address of its own, as behind nginx in real life.
            family_with_double_taps(deployment, number, f"127.0.0.{10 + n}", outcome)
        except Exception as exc:  # reported below, with every family's result
            errors.append((number, repr(exc)))
    threads = [threading.Thread(target=run, args=(n, number)) for n, number in enumerate(numbers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors
    statuses = [s for number in numbers for s in outcome[number][0]]
    assert statuses.count(500) == 0 and all(s < 500 for s in statuses), outcome
    assert all(outcome[number][2] == 200 for number in numbers), outcome  # the thank-you page
    counts = dict(db_rows(deployment, "SELECT p.study_id, count(r.id) FROM participants p "
                                      "LEFT JOIN responses r ON r.participant_id = p.id "
                                      "WHERE p.study_id LIKE 'E2E-TAP-%%' GROUP BY p.study_id"))
    assert counts == {f"E2E-TAP-{n:02d}": 1 for n in range(20)}, counts


def test_a_cookie_replayed_after_logout_gets_the_login_page(deployment, staff):
    desk = Client(deployment)
    status, location, _page = desk.log_in(NURSE, PASSWORD)
    assert status == 303, status
    copied = dict(desk.cookies)
    assert desk.request("GET", "/staff/alerts/")[0] == 200
    token = desk.form_token("/staff/alerts/")
    status, location, _page = desk.request("POST", "/staff/logout", {"csrf_token": token})
    assert status in (302, 303), status
    status, location, _page = desk.request("GET", "/staff/alerts/", cookies=copied)
    assert status in (302, 303) and "/staff/login" in (location or ""), (status, location)


def test_wrong_passwords_from_one_address_do_not_lock_out_another(deployment, staff):
    other = Client(deployment, "127.0.0.2")
    for _ in range(10):
        status, _location, _page = other.log_in(INVESTIGATOR, "not the password")
        assert status in (200, 400, 401, 429), status
    # The same address keeps guessing other accounts until its own limit stops it ...
    limited = False
    for n in range(60):
        token = other.form_token("/staff/login") if not limited else ""
        status, _location, _page = other.request("POST", "/staff/login", {
            "csrf_token": token, "email": f"guess{n}-{uuid.uuid4().hex[:6]}@example.org", "password": "x" * 12})
        assert status < 500, status
        if status == 429:
            limited = True
            break
    assert limited, "no rate limit on one address's login attempts"
    # ... and the nurse at another desk (another address behind the same nginx) logs in.
    status, location, _page = Client(deployment, "127.0.0.1").log_in(NURSE, PASSWORD)
    assert status == 303 and "/staff/" in location and "login" not in location, (status, location)


def test_the_runtime_role_cannot_switch_off_a_trigger_nor_change_the_audit_log(deployment, staff):
    users = {u for (u,) in db_rows(deployment, "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = %s",
                                   deployment.database)}
    assert deployment.runtime in users and deployment.owner not in users, users  # the app runs as the runtime role
    url = make_url(deployment.url_as(deployment.runtime)).set(drivername="postgresql") \
        .render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] > 0
        for sql in ("ALTER TABLE audit_events DISABLE TRIGGER ALL",
                    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
                    "UPDATE audit_events SET actor = 'someone else'",
                    "DELETE FROM responses"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    assert db_rows(deployment, "SELECT count(*) FROM audit_events WHERE actor = 'someone else'") == [(0,)]


def test_healthz_answers_503_within_5_s_when_the_database_hangs(deployment):
    # A "database" that accepts connections and never says a word.
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(64)
    held = []

    def accept():
        while True:
            try:
                held.append(hanging.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    port = free_port()
    env = deployment.environment(PRO_DATABASE_URL=f"postgresql+psycopg://pro@127.0.0.1:{hanging.getsockname()[1]}/pro")
    deployment.start_process("gunicorn-hanging-db", deployment.gunicorn_command(f"127.0.0.1:{port}", workers=1), env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the second app process did not start"
                time.sleep(0.2)
        results = {}
        for path in ("/healthz", "/q/" + "x" * 32):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            started = time.monotonic()
            conn.request("GET", path, headers={"Accept-Language": "zh-CN"})
            response = conn.getresponse()
            response.read()
            results[path] = (response.status, time.monotonic() - started)
            conn.close()
        assert results["/healthz"][0] == 503 and results["/healthz"][1] < 5.0, results
        assert results["/q/" + "x" * 32][0] == 503, results  # the friendly "try again shortly" page
        assert held, "the app never tried the database"
    finally:
        deployment.stop_process("gunicorn-hanging-db")
        hanging.close()
        for conn in held:
            conn.close()
