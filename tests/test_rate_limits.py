"""Rate limits: per client address, per account tried on login, per link token; Redis as storage."""

import secrets

import pytest
import redis
from conftest import PASSWORD

from pro_app.extensions import limiter

A, B = "198.51.100.1", "203.0.113.2"


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True}


def login(client, email, password, address):
    return client.post("/staff/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers={"Accept-Language": "en"}).status_code


def test_ten_wrong_passwords_lock_that_account_only_and_not_other_addresses(app, make_staff):
    nurse, other = make_staff("nurse"), make_staff("investigator")
    client = app.test_client()
    assert [login(client, nurse, "wrong", A) for _ in range(10)] == [400] * 10
    # The account lock answers before the per-account limit, and says until when...
    for address in (A, B):  # ...from every address
        response = app.test_client().post("/staff/login", data={"email": nurse, "password": PASSWORD},
                                          environ_base={"REMOTE_ADDR": address}, headers={"Accept-Language": "en"})
        assert response.status_code == 400 and "locked until" in response.get_data(as_text=True)
    assert login(app.test_client(), other, PASSWORD, B) == 303  # another account, another address
    assert login(app.test_client(), other, PASSWORD, A) == 303  # even from the same address


# Smaller limits than the defaults keep these tests quick: each attempt is an argon2 hash.
SMALL = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "4 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "2 per minute"}


def test_the_defaults_allow_twenty_failures_per_address_and_thirty_per_account(app, make_staff, monkeypatch):
    from argon2 import PasswordHasher

    from pro_app.staff import auth

    # Unknown accounts are checked against this hash: a cheap one keeps dozens of attempts quick.
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x")
    monkeypatch.setattr(auth, "dummy_hash", lambda: cheap)
    client = app.test_client()
    codes = [login(client, f"guess{i // 10}@example.org", "wrong", A) for i in range(21)]
    assert codes == [400] * 20 + [429]
    assert login(app.test_client(), make_staff("nurse"), PASSWORD, B) == 303
    # One account from many addresses (each within its own limit): thirty, then no more.
    codes = [login(app.test_client(), "guess9@example.org", "wrong", f"192.0.2.{i // 10}") for i in range(31)]
    assert codes == [400] * 30 + [429]
    assert login(app.test_client(), "guess9@example.org", "wrong", B) == 429  # its thirty are used up
    assert login(app.test_client(), "guess2@example.org", "wrong", B) == 400  # another account still counts on


@pytest.mark.parametrize("app_config", [SMALL])
def test_one_address_cannot_spray_many_accounts(app, make_staff):
    client = app.test_client()
    codes = [login(client, f"guess{i}@example.org", "wrong", A) for i in range(5)]
    assert codes == [400] * 4 + [429]
    assert login(app.test_client(), make_staff("nurse"), PASSWORD, B) == 303


@pytest.mark.parametrize("app_config", [SMALL])
def test_logging_in_successfully_uses_up_nothing(app, make_staff):
    email = make_staff("nurse")
    assert {login(app.test_client(), email, PASSWORD, A) for _ in range(6)} == {303}


@pytest.mark.parametrize("app_config", [SMALL])
def test_the_account_is_the_email_as_login_compares_it(app, make_staff):
    email = make_staff("nurse")
    client = app.test_client()
    for i in range(2):
        spelled = f"  {email.upper()} " if i % 2 else email
        assert login(client, spelled, "wrong", f"192.0.2.{i}") == 400
    assert login(client, email, PASSWORD, B) == 429


@pytest.mark.parametrize("app_config", [{**SMALL, "TRUSTED_PROXIES": 1}])
def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(app, make_staff):
    nurse, other = make_staff("nurse"), make_staff("investigator")
    client = app.test_client()

    def via_proxy(email, password, client_address):
        return client.post("/staff/login", data={"email": email, "password": password},
                           headers={"X-Forwarded-For": client_address}, environ_base={"REMOTE_ADDR": "127.0.0.1"})

    for i in range(4):
        assert via_proxy(f"guess{i}@example.org", "wrong", A).status_code == 400
    assert via_proxy("guess4@example.org", "wrong", A).status_code == 429
    assert via_proxy(nurse, PASSWORD, B).status_code == 303
    assert via_proxy(other, PASSWORD, "192.0.2.77").status_code == 303


LINKS = {"RATELIMIT_ENABLED": True, "LINK_RATE_LIMIT": "3 per minute", "LINK_ADDRESS_RATE_LIMIT": "8 per minute"}


def link_get(client, token, address, lang=None):
    headers = {"Accept-Language": lang} if lang else {}
    return client.get(f"/q/{token}", environ_base={"REMOTE_ADDR": address}, headers=headers)


@pytest.mark.parametrize("app_config", [LINKS])
def test_a_link_is_limited_by_its_token_and_the_page_speaks_the_readers_language(app):
    client = app.test_client()
    token = secrets.token_urlsafe(24)
    assert [link_get(client, token, f"192.0.2.{i}").status_code for i in range(3)] == [404] * 3
    chinese = link_get(client, token, B)
    assert chinese.status_code == 429 and "尝试次数过多" in chinese.get_data(as_text=True)
    english = link_get(client, token, A, lang="en")
    assert english.status_code == 429 and "Too many attempts" in english.get_data(as_text=True)
    assert link_get(client, secrets.token_urlsafe(24), B).status_code == 404  # other links are not held up


@pytest.mark.parametrize("app_config", [LINKS])
def test_one_address_gets_a_generous_allowance_and_others_are_not_held_up(app):
    client = app.test_client()
    codes = [link_get(client, secrets.token_urlsafe(24), A).status_code for _ in range(9)]
    assert codes == [404] * 8 + [429]
    assert link_get(client, secrets.token_urlsafe(24), B).status_code == 404


@pytest.mark.parametrize("app_config", [LINKS])
def test_calendar_feeds_are_limited_per_token(app):
    client = app.test_client()
    token = secrets.token_urlsafe(24)
    codes = [client.get(f"/cal/{token}.ics", environ_base={"REMOTE_ADDR": f"192.0.2.{i}"}).status_code
             for i in range(4)]
    assert codes == [404, 404, 404, 429]


REDIS_URL = "redis://127.0.0.1:6379/14"  # a database number of these tests' own
PREFIX = f"pro-test-{secrets.token_hex(6)}"


def redis_or_skip():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (production keeps rate limits there)")
    return client


@pytest.fixture
def redis_db(monkeypatch):
    client = redis_or_skip()
    # The limiter keeps the key prefix of the first app it served in this process.
    monkeypatch.setattr(limiter, "_key_prefix", PREFIX)
    yield client
    keys = list(client.scan_iter(f"*{PREFIX}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.parametrize("app_config", [{**SMALL, "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": PREFIX}])
def test_redis_storage_counts_and_keys_hold_no_email_or_token(app, make_staff, redis_db):
    email = make_staff("nurse")
    client = app.test_client()
    assert [login(client, email, "wrong", A) for _ in range(2)] == [400] * 2
    assert login(client, email, PASSWORD, B) == 429  # the account's limit, counted in Redis
    token = secrets.token_urlsafe(24)
    assert link_get(client, token, A).status_code == 404
    keys = [k.decode() for k in redis_db.scan_iter(f"*LIMITER/{PREFIX}/*")]
    assert keys, "nothing counted in Redis"
    assert any("account:" in k for k in keys) and any("link:" in k for k in keys) and any(A in k for k in keys)
    assert not any(email in k or token in k for k in keys)
    assert type(limiter.storage).__name__ == "RedisStorage"


@pytest.mark.parametrize("app_config", [{**SMALL, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}])
def test_a_rate_limit_store_that_is_down_neither_blocks_logins_nor_lifts_the_limits(app, make_staff):
    email = make_staff("nurse")
    client = app.test_client()
    assert login(client, email, PASSWORD, A) == 303
    assert [login(client, email, "wrong", A) for _ in range(3)] == [400, 400, 429]  # counted in memory meanwhile
