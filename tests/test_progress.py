"""One progress policy: live bars on a terminal, sparse refreshes in logs, none with LEGOKIT_NO_TQDM."""
import io
import sys

from legokit.progress import progress_bar


def test_not_a_terminal_refreshes_sparsely(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("LEGOKIT_NO_TQDM", raising=False)
    monkeypatch.setenv("LEGOKIT_PROGRESS_INTERVAL", "3600")
    assert list(progress_bar(range(1000), desc="work")) == list(range(1000))
    out = sys.stderr.getvalue()
    assert "work" in out and "1000/1000" in out
    assert out.count("\r") <= 3  # first draw and the final one, not a redraw per item


def test_disabled_by_flag_or_environment(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert list(progress_bar(range(5), desc="off", enabled=False)) == list(range(5))
    monkeypatch.setenv("LEGOKIT_NO_TQDM", "1")
    with progress_bar(total=5, desc="manual") as bar:
        bar.update(5)
    assert sys.stderr.getvalue() == ""
