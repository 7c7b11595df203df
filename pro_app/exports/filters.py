"""What an export is asked for: the dataset, the format and the filters."""

from dataclasses import dataclass
from datetime import date, datetime, time

from pro_app.clock import local_to_utc


@dataclass(frozen=True)
class Filters:
    """Which rows to export: since a local date (study zone), one participant, unfinished drafts."""

    since: date | None = None
    participant: str | None = None
    unfinished: bool = False
    timezone: str = "Asia/Shanghai"

    @property
    def since_utc(self) -> datetime | None:
        return local_to_utc(self.since, time(0, 0), self.timezone) if self.since else None

    def describe(self):
        """Return the filters as plain data for the audit log."""
        out = {}
        if self.since:
            out["since"] = self.since.isoformat()
        if self.participant:
            out["participant"] = self.participant
        if self.unfinished:
            out["unfinished"] = True
        return out
