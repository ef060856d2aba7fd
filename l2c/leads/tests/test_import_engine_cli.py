"""`l2c import-leads`: output, options and exit codes."""
import csv
import json

import pytest

from l2c.cli import main
from l2c.leads.models import Lead

from .factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leads_csv(tmp_path):
    path = tmp_path / "leads.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["姓名", "邮箱", "手机", "公司", "Region"])
        writer.writerow(["张伟", "zhangwei@example.cn", "13812345678", "华为", "north"])
        writer.writerow(["李娜", "not-an-email", "13912345678", "阿里巴巴", "south"])
        writer.writerow(["王芳", "wangfang@example.cn", "=cmd|' /C calc'!A0", "腾讯", "east"])
    return path


def test_import_prints_format_mapping_progress_and_counts(leads_csv, tmp_path, capsys, rep):
    campaign = CampaignFactory(name="Canton fair")
    report = tmp_path / "errors.csv"

    code = main(["import-leads", str(leads_csv), "--region", "CN", "--owner", "rep", "--campaign", "Canton fair",
                 "--errors", str(report)])

    out = capsys.readouterr().out
    assert code == 0
    assert "(csv, gb18030, semicolon-separated, about 3 rows)" in out
    assert "姓名 → full_name" in out and "Ignored columns: Region" in out
    assert "Progress: 3 / 3 rows" in out
    assert "Created 1, updated 0, skipped as duplicate 0, rejected 2 of 3 rows" in out
    lead = Lead.objects.get()
    assert (lead.last_name, lead.first_name, lead.owner, lead.campaign) == ("张", "伟", rep, campaign)
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Row,Column,Value,Reason" and len(lines) == 3
    assert lines[2].startswith("4,手机,'=cmd|' /C calc'!A0,")


def test_dry_run_and_mapping_options(leads_csv, tmp_path, capsys, admin_user):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Region": "city", "邮箱": ""}))

    code = main(["import-leads", str(leads_csv), "--dry-run", "--mapping", str(mapping), "--actor", "admin",
                 "--region", "CN"])

    out = capsys.readouterr().out
    assert code == 0 and "Would create 2" in out and "(dry run: nothing written)" in out
    assert "Region → city" in out and "邮箱 →" not in out
    assert not Lead.objects.exists()
    code = main(["import-leads", str(leads_csv), "--mapping", "Region=city,邮箱=", "--region", "CN"])
    assert code == 0 and set(Lead.objects.values_list("city", flat=True)) == {"north", "south"}


def test_all_or_nothing_with_rejections_exits_2_and_writes_nothing(leads_csv, capsys):
    code = main(["import-leads", str(leads_csv), "--mode", "all_or_nothing", "--region", "CN"])
    captured = capsys.readouterr()
    assert code == 2
    assert "2 rows rejected in all_or_nothing mode: nothing was written" in captured.err
    assert "row 3, 邮箱: Not a valid e-mail address." in captured.err
    assert not Lead.objects.exists()


@pytest.mark.parametrize("content, args, message", [
    (b"", [], "empty_file: The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00", [], "not_a_table"),
    (b"Name\nJos\xe9\xff\n", [], "bad_encoding"),
    (b"Name,Email\nAda,a@b.co\n", ["--mapping", "Name=salary"], "bad_mapping"),
    (b"Name,Email\nAda,a@b.co\n", ["--owner", "nobody"], "--owner: no user called 'nobody'"),
    (b"Name,Email\nAda,a@b.co\n", ["--campaign", "Nope"], "--campaign: no campaign"),
    (b"Name,Email\nAda,a@b.co\n", ["--region", "XX"], "'XX' is not a country code"),
])
def test_file_errors_exit_1_with_the_message_on_stderr(tmp_path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code = main(["import-leads", str(path), *args])
    captured = capsys.readouterr()
    assert code == 1
    assert message in captured.err
    assert not Lead.objects.exists()
