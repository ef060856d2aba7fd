"""Read an export response back (for the exporter's and each app's export tests)."""
import csv
import io


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def read_csv(response) -> list[dict[str, str]]:
    """The CSV's rows as dicts by header; checks the UTF-8 BOM that makes Excel read Chinese."""
    body = body_of(response)
    assert body.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM so Excel reads Chinese"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def read_xlsx(response) -> list[dict]:
    """The sheet's rows as dicts by header (openpyxl cells, to check their types)."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body_of(response))).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]
