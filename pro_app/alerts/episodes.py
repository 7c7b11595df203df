"""Episodes, not floods: which episode a new finding joins and when the nurse may be texted. Pure functions."""

from datetime import timedelta

#: A later answer opens a new episode once the open one is older than this.
EPISODE_SPAN = timedelta(hours=24)
#: At most one level-0 text to the nurse per participant in this time, unless severity rises.
NURSE_TEXT_GAP = timedelta(minutes=15)
RANK = {None: 0, "amber": 1, "red": 2}


def joins(*, state, opened_at, now, same_questionnaire):
    """Tell whether a new finding joins an existing episode rather than opening a new one.

    Answers from the questionnaire that opened it join while it is on the worklist (the nurse who
    acknowledged it is already on it); any other answer or event joins only an open episode
    (not yet acknowledged) that is at most a day old.
    """
    if state == "resolved":
        return False
    if same_questionnaire:
        return True
    return state == "open" and now - opened_at <= EPISODE_SPAN


def rises(before, after):
    """Tell whether a severity is worse than the one before (amber to red, nothing to amber)."""
    return RANK[after] > RANK[before]


def nurse_text_due(now, last_texted_at, *, rose=False):
    """Return when the nurse's level-0 text for a new or worsened episode goes out.

    A worse severity goes at once; otherwise no sooner than 15 minutes after the last such
    text for the same participant (the text waits, it is never dropped).
    """
    if rose or last_texted_at is None:
        return now
    return max(now, last_texted_at + NURSE_TEXT_GAP)


def headline(findings):
    """Return the finding an episode is named after: the first of the most urgent severity."""
    top = max((RANK[f.severity] for f in findings), default=0)
    return next((f for f in findings if RANK[f.severity] == top), None)
