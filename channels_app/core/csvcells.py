"""The one rule for cells of a CSV export: a cell a spreadsheet would read as a formula (starting
with =, +, -, @, tab or CR) is prefixed with ' so it shows as text. Every export writes through
DefusedWriter, so no column can be forgotten; an import strips the prefix again (`uncell`)."""

import csv
import io

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def uncell(text: str) -> str:
    text = (text or "").strip()
    return text[1:] if text.startswith("'") and text[1:2] in FORMULA_START else text


class DefusedWriter:
    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, cells) -> None:
        self._writer.writerow([cell(value) for value in cells])
