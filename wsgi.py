"""WSGI entry point: `gunicorn wsgi:app`."""

from pro_app import create_app

app = create_app()
