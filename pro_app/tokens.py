"""Link tokens in texts: made when the text is sent, only their hash stored, looked up by hash."""

import hashlib
import secrets

#: Longer than any token made here: a longer one names no link.
MAX_LENGTH = 64


def hash_token(token):
    """Return the stored form of a link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token():
    """Return a fresh link token (192 random bits) and its hash, the part the database keeps."""
    token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def lookup_hash(token):
    """Return the hash to find a link by, or None for what cannot be a token (empty, too long)."""
    return hash_token(token) if token and len(token) <= MAX_LENGTH else None
