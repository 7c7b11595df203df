"""Wide tables: one CSV per instrument version, a row per response, into a folder or a zip."""

import csv
import shutil
import tempfile
import zipfile
from pathlib import Path

from pro_app.exports import responses as rs
from pro_app.exports.csvfile import safe_cell
from pro_app.exports.records import Versions, response_records


def write_wide(target, session, filters, excel=False):
    """Write one CSV per instrument version into a folder, or a file ending in .zip; return the rows.

    Each file stays open while the responses stream past, so memory holds one row at a time.
    """
    target = Path(target)
    zipped = target.suffix == ".zip"
    folder = Path(tempfile.mkdtemp(prefix="pro-wide-")) if zipped else target
    folder.mkdir(parents=True, exist_ok=True)
    versions = Versions(session)
    files, count = {}, 0
    try:
        for record in response_records(session, filters):
            instrument = versions.get(record.version_id)
            if instrument.version not in files:
                path = folder / f"{instrument.id}-{instrument.version[:12]}.csv"
                handle = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
                if excel:
                    handle.write("\ufeff")
                columns = rs.wide_columns(instrument)
                writer = csv.writer(handle)
                writer.writerow(columns)
                files[instrument.version] = (handle, writer, columns)
            handle, writer, columns = files[instrument.version]
            row = rs.wide_row(record, instrument)
            writer.writerow([safe_cell(row.get(c)) for c in columns])
            count += 1
    finally:
        for handle, _writer, _columns in files.values():
            handle.close()
    if zipped:
        try:
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(folder.iterdir()):
                    archive.write(path, path.name)
        finally:
            shutil.rmtree(folder)
    return count
