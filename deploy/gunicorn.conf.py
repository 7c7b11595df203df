"""gunicorn settings for pro_app behind nginx (deploy/nginx/pro-app.conf).

Installed as /etc/pro-app/gunicorn.conf.py; `make e2e` starts gunicorn with this very file and
only moves the bind address to a free loopback port.
"""

# nginx is the only client: loopback, never a public interface.
bind = "127.0.0.1:8000"
# Two per core on the study's 2-core server; the web workers never run the scheduler.
workers = 4
# Synchronous workers are right behind nginx, which buffers slow phones' requests and answers.
worker_class = "sync"
# Longer than the database's statement timeout, so a slow query is answered, not killed.
timeout = 30
graceful_timeout = 20
# Load the app before forking: a bad setting fails once, loudly, and workers share the code.
preload_app = True
# nginx logs every request (without link tokens); gunicorn logs only its own errors.
accesslog = None
errorlog = "-"
loglevel = "info"
# Recycle workers now and then, so a slow leak in any library never grows without bound.
max_requests = 5000
max_requests_jitter = 500
