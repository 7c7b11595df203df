"""Start the production shape on this machine, from deploy/ and a wheel, on loopback only.

What `make e2e` and bench/deployed_pages.py run: the wheel built from this checkout and installed
into a new virtualenv outside it; an owner role, a runtime role and a database on the local
PostgreSQL, migrated as the owner; gunicorn (deploy/gunicorn.conf.py, 4 workers) as the runtime
role; `pro-app scheduler`; nginx from Debian with deploy/nginx/pro-app.conf rendered for loopback
ports and a self-signed certificate; Redis for rate limits; the loopback fake Twilio. The
environment is deploy/pro-app.env.example with this machine's values filled in.

Everything started is stopped on leaving the `with` block, failure or not. The pids and the SQL
that drops the database and roles are also written to the work folder, so e2e/run.sh can clean up
after a driver that was killed.
"""

import http.client
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(ROOT / "tests"))

from fake_twilio import FakeTwilio  # noqa: E402

ADMIN_URL = os.environ.get("PRO_E2E_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PRO_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")  # a database number of its own
TWILIO_FROM = "+15005550006"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_wheel(out, source=ROOT):
    """Build the wheel from this checkout into out; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)], check=True,
                   stdout=subprocess.DEVNULL)
    (wheel,) = out.glob("pro_app-*.whl")
    return wheel


def install_wheel(wheel, venv, log):
    """Make a fresh virtualenv and install the wheel into it (pip's cache makes a rerun quick)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, stdout=log, stderr=log)
    return venv


def installed_venv(work, logs):
    """The virtualenv PRO_E2E_VENV names, else a new one in work with the wheel of this checkout."""
    venv = os.environ.get("PRO_E2E_VENV")
    if venv:
        return Path(venv)
    with open(logs / "install.log", "w") as log:
        return install_wheel(build_wheel(work / "dist"), work / "venv", log)


def render(template, values):
    """Replace every @NAME@ token; refuse a template with a token left over."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{template}: no value for {sorted(set(left))}")
    return text


def env_file(values):
    """deploy/pro-app.env.example with these values in place of the example ones."""
    lines, seen = [], set()
    for line in (DEPLOY / "pro-app.env.example").read_text().splitlines():
        match = re.match(r"^#?(PRO_[A-Z0-9_]+)=(.*)$", line)
        if match and match.group(1) in values:
            key = match.group(1)
            lines.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            lines.append(line)
    missing = set(values) - seen
    if missing:
        raise ValueError(f"deploy/pro-app.env.example does not mention {sorted(missing)}")
    return "\n".join(lines) + "\n"


def read_env_file(path):
    """The KEY=value lines a systemd EnvironmentFile= would read."""
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def https_get(port, path, timeout=5, source="127.0.0.1"):
    """(status, body) of one GET over TLS to the local nginx, certificate not checked."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=insecure_tls(),
                                       source_address=(source, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def insecure_tls():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Deployment:
    """The whole deployment, started by `with Deployment(work, logs, venv) as d:`."""

    def __init__(self, work, logs, venv):
        self.work, self.logs, self.venv = Path(work), Path(logs), Path(venv)
        self.tag = uuid.uuid4().hex[:8]
        self.owner, self.runtime, self.database = (f"pro_e2e_owner_{self.tag}", f"pro_e2e_app_{self.tag}",
                                                   f"pro_e2e_{self.tag}")
        self.https_port, self.http_port, self.app_port = free_port(), free_port(), free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        self.processes = {}
        self.fake = None
        self._stack = ExitStack()

    # --- database ----------------------------------------------------------------------------

    def url_as(self, role, database=None):
        return make_url(ADMIN_URL).set(username=role, password=None, database=database or self.database) \
            .render_as_string(hide_password=False)

    @property
    def admin_url(self):
        """The PostgreSQL superuser on this deployment's database (for checks only, never the app)."""
        return self.url_as(make_url(ADMIN_URL).username)

    def _create_database(self):
        # As the README says: two login roles, a database the owner owns, PUBLIC kept out.
        cleanup = (f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE);\n'
                   f"DROP ROLE IF EXISTS {self.runtime};\nDROP ROLE IF EXISTS {self.owner};\n")
        (self.work / "cleanup.sql").write_text(cleanup)
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        self._stack.callback(admin.dispose)
        self._stack.callback(self._drop_database, admin, cleanup)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {self.owner} LOGIN")
            conn.exec_driver_sql(f"CREATE ROLE {self.runtime} LOGIN")
            conn.exec_driver_sql(f'CREATE DATABASE "{self.database}" OWNER {self.owner}')
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            conn.exec_driver_sql(f'REVOKE ALL ON DATABASE "{self.database}" FROM PUBLIC')
        engine.dispose()

    @staticmethod
    def _drop_database(admin, cleanup):
        with admin.connect() as conn:
            for statement in filter(None, (s.strip() for s in cleanup.split(";"))):
                conn.exec_driver_sql(statement)

    # --- processes ---------------------------------------------------------------------------

    def environment(self, **overrides):
        """The services' environment: the env file's lines and a bare PATH, nothing of this checkout."""
        env = {"PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "HOME": str(self.work)}
        env.update(read_env_file(self.env_path))
        env.update(overrides)
        return env

    def run(self, name, *args, input=None, check=True, **env):
        """Run an installed command (pro-app ...) to completion; its output goes to the logs."""
        result = subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], cwd=self.work,
                                env=self.environment(**env), input=input, capture_output=True, text=True,
                                timeout=120)
        with open(self.logs / f"{name}.log", "a") as log:
            log.write(f"$ {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def start_process(self, name, command, env=None):
        log = open(self.logs / f"{name}.log", "ab")
        self._stack.callback(log.close)
        process = subprocess.Popen(command, cwd=self.work, env=env or self.environment(), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        with open(self.work / "pids", "a") as pids:
            pids.write(f"{process.pid}\n")
        self._stack.callback(self.stop_process, name)
        return process

    def stop_process(self, name, sig=signal.SIGTERM):
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def gunicorn_command(self, bind, workers=None):
        command = [str(self.venv / "bin" / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
                   "--bind", bind]
        if workers:
            command += ["--workers", str(workers)]
        return command + ["pro_app:create_app()"]

    # --- nginx ------------------------------------------------------------------------------

    def _nginx(self):
        prefix = self.work / "nginx"
        (prefix / "temp").mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(prefix / "key.pem"), "-out", str(prefix / "cert.pem")],
                       check=True, capture_output=True)
        static = subprocess.run([str(self.venv / "bin" / "python"), "-c",
                                 "import pro_app; print(pro_app.resource_folder('static'))"],
                                cwd=self.work, env=self.environment(), check=True, capture_output=True,
                                text=True).stdout.strip()
        assert static.startswith(str(self.venv)), f"static files from {static}, not the installed package"
        site = render(DEPLOY / "nginx" / "pro-app.conf", {
            "SERVER_NAME": "127.0.0.1", "PUBLIC_URL": self.base, "HTTP_PORT": f"127.0.0.1:{self.http_port}",
            "HTTPS_PORT": f"127.0.0.1:{self.https_port}", "CERT": prefix / "cert.pem", "KEY": prefix / "key.pem",
            "STATIC_ROOT": static, "UPSTREAM": f"127.0.0.1:{self.app_port}", "LOG_DIR": self.logs.resolve()})
        (prefix / "pro-app.conf").write_text(site)
        # What Debian's /etc/nginx/nginx.conf gives a site, with this prefix's paths.
        user = "user www-data;" if os.geteuid() == 0 and _user_exists("www-data") else ""
        (prefix / "nginx.conf").write_text(f"""{user}
worker_processes 2;
pid {prefix / 'nginx.pid'};
error_log {self.logs.resolve() / 'nginx-error.log'} info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {prefix / 'temp' / 'body'};
    proxy_temp_path {prefix / 'temp' / 'proxy'};
    fastcgi_temp_path {prefix / 'temp' / 'fastcgi'};
    uwsgi_temp_path {prefix / 'temp' / 'uwsgi'};
    scgi_temp_path {prefix / 'temp' / 'scgi'};
    include {prefix / 'pro-app.conf'};
}}
""")
        command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        checked = subprocess.run(command + ["-t"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t:\n{checked.stderr}")
        self.start_process("nginx", command + ["-g", "daemon off;"], env={"PATH": "/usr/sbin:/usr/bin:/bin"})

    # --- the whole -------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self._stack.close()

    def start(self):
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o755)  # nginx's workers read the installed package's static files
        self.logs.mkdir(parents=True, exist_ok=True)
        self._create_database()
        self.fake = FakeTwilio().start()
        self._stack.callback(self.fake.stop)
        _flush_redis()
        self._stack.callback(_flush_redis)
        self.env_path = self.work / "pro-app.env"
        self.env_path.write_text(env_file({
            "PRO_SECRET_KEY": secrets.token_hex(32),
            "PRO_DATABASE_URL": self.url_as(self.runtime),
            "PRO_DATABASE_RUNTIME_ROLE": self.runtime,
            "PRO_PUBLIC_URL": self.base,
            "PRO_TRUSTED_PROXIES": "1",
            "PRO_RATELIMIT_STORAGE_URI": REDIS_URL,
            "PRO_INSTANCE_PATH": self.work / "instance",
            "PRO_SMS_BACKEND": "twilio",
            "PRO_TWILIO_ACCOUNT_SID": self.fake.account_sid,
            "PRO_TWILIO_AUTH_TOKEN": self.fake.auth_token,
            "PRO_TWILIO_FROM": TWILIO_FROM,
        }) + f"# Only for the loopback fake gateway: a real site talks to Twilio itself.\n"
             f"PRO_TWILIO_BASE_URL={self.fake.base_url}\n")
        # The README's migration step: the same environment, the owner's URL for this one command.
        self.run("migrate", "pro-app", "db", "upgrade", PRO_DATABASE_URL=self.url_as(self.owner))
        self.start_process("gunicorn", self.gunicorn_command(f"127.0.0.1:{self.app_port}"))
        self.start_process("scheduler", [str(self.venv / "bin" / "pro-app"), "scheduler"])
        self._nginx()
        self.wait_healthy()

    def wait_healthy(self, seconds=60):
        deadline = time.monotonic() + seconds
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}); see {self.logs / (name + '.log')}")
            try:
                if https_get(self.https_port, "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no healthy answer from {self.base}/healthz in {seconds} s")
            time.sleep(0.2)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _flush_redis():
    """Empty the rate-limit counters of the e2e's own Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()
