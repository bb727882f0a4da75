"""One progress policy: live bars on a terminal, sparse refreshes in logs, none with LEGOKIT_NO_TQDM."""
import io
import sys
import time

from legokit.progress import progress_bar


def test_not_a_terminal_refreshes_sparsely(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("LEGOKIT_NO_TQDM", raising=False)
    monkeypatch.setenv("LEGOKIT_PROGRESS_INTERVAL", "0.2")
    items = []
    for i in progress_bar(range(1000), desc="work"):
        items.append(i)
        if i in (0, 500):
            time.sleep(0.25)  # the loop outlives the interval: it shows up in the log
    assert items == list(range(1000))
    out = sys.stderr.getvalue()
    assert "work" in out and "1000/1000" in out
    assert out.count("\r") <= 4  # a few refreshes, not a redraw per item


def test_not_a_terminal_short_loop_adds_no_lines(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("LEGOKIT_NO_TQDM", raising=False)
    monkeypatch.setenv("LEGOKIT_PROGRESS_INTERVAL", "3600")
    assert list(progress_bar(range(1000), desc="work")) == list(range(1000))
    assert sys.stderr.getvalue() == ""  # done before the interval: error messages stay one line


def test_disabled_by_flag_or_environment(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert list(progress_bar(range(5), desc="off", enabled=False)) == list(range(5))
    monkeypatch.setenv("LEGOKIT_NO_TQDM", "1")
    with progress_bar(total=5, desc="manual") as bar:
        bar.update(5)
    assert sys.stderr.getvalue() == ""
