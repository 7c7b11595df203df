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


def write_rows(handle, fieldnames, rows):
    """Write a header and every row (dicts) to an open text handle; return the number of rows."""
    out = writer(handle, fieldnames)
    out.writeheader()
    count = 0
    for row in rows:
        out.writerow(row)
        count += 1
    return count
