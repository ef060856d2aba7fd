"""`l2c verify-document FILE`: verdict, signer, record, and exit codes (0 valid + recorded, 1 otherwise, 2 unreadable)."""
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from l2c import cli
from l2c.contracts.tests.test_signing import (  # noqa: F401 - fixtures
    append_annotation,
    flip_byte_in_signed_content,
    quote_pdf_fixture,
    shared_var_dir_fixture,
    signed_pdf_fixture,
    signing_settings_fixture,
    store_signature,
)

pytestmark = pytest.mark.django_db


def run(path) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_document", str(path), stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_valid_recorded_document_exits_0_and_prints_the_record(tmp_path, signed_pdf):
    # given
    signature = store_signature(signed_pdf, with_contract=True)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdf)

    # when
    code, output = run(path)

    # then
    assert code == 0, output
    assert "Verdict: VALID" in output
    assert signature.signed_pdf_sha256 in output
    assert "L2C Demo Ltd" in output  # the signer certificate's subject
    assert "QUO-2026-000042 version 2" in output
    assert "CTR-2026-000007" in output
    assert "张伟 <zhang.wei@example.cn>" in output
    assert "203.0.113.7" in output
    assert "Consent version: 2026-11" in output
    assert "Problem:" not in output


def test_valid_signature_without_a_record_exits_1(tmp_path, signed_pdf):
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdf)

    code, output = run(path)

    assert code == 1
    assert "Verdict: NOT VALID" in output
    assert "No signature recorded in L2C matches this file." in output


def test_tampered_document_exits_1_naming_the_change(tmp_path, signed_pdf):
    store_signature(signed_pdf)
    path = tmp_path / "tampered.pdf"
    path.write_bytes(flip_byte_in_signed_content(signed_pdf))

    code, output = run(path)

    assert code == 1
    assert "changed after signing" in output


def test_incrementally_changed_document_exits_1(tmp_path, signed_pdf):
    store_signature(signed_pdf)
    path = tmp_path / "changed.pdf"
    path.write_bytes(append_annotation(signed_pdf))

    code, output = run(path)

    assert code == 1
    assert "content was added after the signature" in output


def test_not_a_pdf_exits_1_with_a_clear_problem(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")

    code, output = run(path)

    assert code == 1
    assert "The file is not a PDF." in output


def test_missing_or_unreadable_file_exits_2(tmp_path):
    code, output = run(tmp_path / "missing.pdf")
    assert code == 2
    assert "missing.pdf" in output

    code, _output = run(tmp_path)  # a directory
    assert code == 2


@pytest.mark.django_db(transaction=True)  # the console entry point closes the database connections when done
def test_the_l2c_console_command_passes_the_exit_code_through(tmp_path, signed_pdf, capsys):
    # given
    store_signature(signed_pdf)
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(signed_pdf)
    bad.write_bytes(flip_byte_in_signed_content(signed_pdf))

    # when / then: `l2c verify-document FILE` as typed in a shell
    assert cli.main(["verify-document", str(good)]) == 0
    assert "Verdict: VALID" in capsys.readouterr().out
    assert cli.main(["verify-document", str(bad)]) == 1
    assert cli.main(["verify-document", str(tmp_path / "nope.pdf")]) == 2
