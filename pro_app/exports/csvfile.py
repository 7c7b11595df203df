"""The one CSV writer of every export: cells a spreadsheet would run as a formula are neutralised.

A cell that starts with =, +, -, @, a tab or a carriage return is a formula (or starts one) in
Excel, LibreOffice and WPS; a note typed by a nurse or a text sent by a family could carry one.
Such a cell gets a leading apostrophe, the usual defence (OWASP "CSV injection"). A plain number
such as -1.5 or +3 is data, not a formula, and is written as it is, so numeric columns stay
numeric; anything else starting with those characters is neutralised.
"""

import csv
import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value):
    """Return a cell's value as written to CSV: None as empty, a formula-like text quoted."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeDictWriter(csv.DictWriter):
    """A csv.DictWriter whose every cell goes through safe_cell (the header included)."""

    def writeheader(self):
        return self.writer.writerow([safe_cell(name) for name in self.fieldnames])

    def writerow(self, rowdict):
        return super().writerow({key: safe_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        for rowdict in rowdicts:
            self.writerow(rowdict)


def writer(handle, fieldnames, **kwargs):
    """Return a dict writer over an open text handle (opened with newline="")."""
    return SafeDictWriter(handle, fieldnames=fieldnames, **kwargs)


#: Writers pause every so many rows, so that a web response can send what they wrote so far.
PAUSE_EVERY = 200


def write_csv(out, columns, rows, excel=False):
    """Write a header and the rows (dicts) as CSV, every cell through safe_cell; return the row count.

    A generator: it pauses every PAUSE_EVERY rows (yielding None) so a caller can pass on what was written.
    """
    if excel:
        out.write("\ufeff")  # Excel and WPS read the BOM as "this is UTF-8": Chinese text shows as written
    lines = csv.writer(out)
    lines.writerow([safe_cell(name) for name in columns])
    count = 0
    for row in rows:
        lines.writerow([safe_cell(row.get(c)) for c in columns])
        count += 1
        if count % PAUSE_EVERY == 0:
            yield
    return count

