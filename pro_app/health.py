"""Liveness and readiness for load balancers and monitors."""

import logging

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from pro_app.db import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    try:
        db.ping()
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return jsonify(status="error", db="unreachable"), 503
    return jsonify(status="ok", db="ok")
