"""Progress bars draw on a terminal only: a log (stderr a file or a pipe) gets the summary lines, not
hundreds of carriage-return frames. FACEREC_PROGRESS forces them on or off."""

from __future__ import annotations

from click.testing import CliRunner

from facerec.cli import main
from facerec.progress import bars_shown
from tests.conftest import lfw


def enroll_folder(tmp_path, env: dict[str, str]):
    folder = tmp_path / "people" / "Abel"
    folder.mkdir(parents=True, exist_ok=True)
    for number in (1, 2):
        (folder / f"{number}.jpg").write_bytes(lfw("Abel_Pacheco", number).read_bytes())
    return CliRunner(env=env).invoke(main, ["enroll", "--from-dir", str(tmp_path / "people"), "--db",
                                            str(tmp_path / "g.db")])


def test_no_bar_frames_in_a_log(tmp_path):
    result = enroll_folder(tmp_path, {"FACEREC_PROGRESS": ""})
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stderr and "enrolling" not in result.stderr
    assert "enrolled 2 faces of 1 person" in result.stdout  # the summary is still there


def test_bars_can_be_forced_on(tmp_path):
    result = enroll_folder(tmp_path, {"FACEREC_PROGRESS": "1"})
    assert result.exit_code == 0 and "enrolling" in result.stderr and "\r" in result.stderr


def test_bars_follow_the_terminal(monkeypatch):
    monkeypatch.delenv("FACEREC_PROGRESS", raising=False)

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    assert bars_shown()
    monkeypatch.setenv("FACEREC_PROGRESS", "0")
    assert not bars_shown()
