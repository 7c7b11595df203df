"""Benchmark: questionnaire pages through the deployment itself (target: at least 300 a second).

The deployment `make e2e` tests (e2e/deployment.py): the wheel in its own virtualenv, nginx with
deploy/nginx/pro-app.conf over TLS, gunicorn with deploy/gunicorn.conf.py (4 sync workers) as the
runtime role on PostgreSQL, Redis for rate limits, the scheduler running beside it. One respondent
session is started over https as a phone does (open the link, Start, answer every section); then
C client threads each hold one keep-alive TLS connection to nginx and GET /q/answer?s=k (k cycling
over the sections), `requests` pages in all, every answer checked to be a 200 with the right
section's title. Pages per second and p95 latency are printed. The load generator runs on the
same two cores as nginx, gunicorn and PostgreSQL, so the rate understates the server's.

    python bench/deployed_pages.py [requests] [--clients C]

It builds the wheel and a virtualenv in a temporary folder, unless PRO_E2E_VENV names one that
has it. Needs PostgreSQL (superuser postgres on 127.0.0.1:5432), Redis and nginx, as make e2e does.
"""

import http.client
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "e2e")]

from common import logs_to_devnull  # noqa: E402
from deployment import Deployment, insecure_tls, installed_venv  # noqa: E402
from questionnaire_pages import Browser, drive, prepare_server_data, rate_line, start_session  # noqa: E402


def over_tls(deployment):
    """A function that opens a new Browser on nginx, over TLS, as a phone does."""
    return lambda: Browser(http.client.HTTPSConnection("127.0.0.1", deployment.https_port, timeout=30,
                                                       context=insecure_tls()), origin=deployment.base)


def stack_pids(deployment):
    """nginx's and gunicorn's masters and workers, and the deployment's PostgreSQL backends."""
    import psycopg
    from sqlalchemy.engine import make_url

    groups = {}
    for name in ("nginx", "gunicorn"):
        root = deployment.processes[name].pid
        groups[name] = {root}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == root:
                    groups[name].add(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
    url = make_url(deployment.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        groups["PostgreSQL"] = {pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (deployment.database,))}
    return groups


def cpu_seconds(groups):
    """{group: user and system CPU seconds its processes have used so far}."""
    out = {}
    for name, pids in groups.items():
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        out[name] = ticks / os.sysconf("SC_CLK_TCK")
    return out


def main(total=6000, clients=8):
    with tempfile.TemporaryDirectory(prefix="pro-bench-") as tmp, logs_to_devnull():
        work = Path(tmp)
        work.chmod(0o755)
        logs = ROOT / "test-artifacts" / "bench-deployed"
        logs.mkdir(parents=True, exist_ok=True)
        with Deployment(work / "run", logs, installed_venv(work, logs)) as deployment:
            token, instrument = prepare_server_data(deployment.url_as(deployment.runtime), deployment.https_port)
            titles = [f"<h1>{s.title['zh-CN']}</h1>" for s in instrument.sections]
            connect = over_tls(deployment)
            cookie = start_session(connect, token, instrument)
            drive(connect, cookie, titles, min(total, 800), clients)  # warm every worker and connection
            pids = stack_pids(deployment)
            server_before, client_before = cpu_seconds(pids), time.process_time()
            seconds, latencies = drive(connect, cookie, titles, total, clients)
            server_cpu = {name: spent - server_before[name] for name, spent in cpu_seconds(pids).items()}
            client_cpu = time.process_time() - client_before
        load = os.getloadavg()[0]
    print(rate_line(f"nginx TLS -> gunicorn 4 workers -> PostgreSQL, {clients} clients", len(latencies), seconds,
                    latencies), flush=True)
    # The machine may be busy with other work: what the stack itself spent per page tells what
    # two otherwise idle cores could serve.
    n = len(latencies)
    per_page = (sum(server_cpu.values()) + client_cpu) / n * 1000
    parts = ", ".join(f"{name} {spent / n * 1000:.2f}" for name, spent in server_cpu.items())
    print(f"{'CPU per page (ms)':<56} {per_page:8.2f} ms   ({parts}, load generator {client_cpu / n * 1000:.2f})"
          f"   -> 2 idle cores: about {2000 / per_page:.0f} pages/s   "
          f"(1-minute load average during the run: {load:.1f})", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    clients = 8
    if "--clients" in args:
        i = args.index("--clients")
        clients = int(args[i + 1])
        del args[i:i + 2]
    main(int(args[0]) if args else 6000, clients)
