"""`legokit tts`: argument parsing and the light actions (rank-sources, map-phones)."""

import argparse

import pytest

from legokit.commands import tts

pytest.importorskip("panphon")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tts.add_arguments(parser)
    return parser.parse_args(argv)


def test_rank_sources_from_counts(tmp_path, capsys):
    for lang, body in {"kk": "a\t5\nq\t2\n", "ru": "a\t5\nk\t2\n", "en": "ɪ\t5\n"}.items():
        (tmp_path / f"{lang}.tsv").write_text(body)
    args = parse(["rank-sources", "--target", "kk", "--sources", "en,ru", "--counts", str(tmp_path / "{lang}.tsv"),
                  "--out", str(tmp_path / "rank.tsv")])
    assert tts.run(args) == 0
    assert (tmp_path / "rank.tsv").read_text().splitlines()[0].startswith("ru\t")
    assert "# ASPF to kk" in capsys.readouterr().out


def test_map_phones_writes_the_table(tmp_path):
    (tmp_path / "t.tsv").write_text("a\t5\nq\t2\n")
    (tmp_path / "s.tsv").write_text("a\t5\nk\t2\n")
    assert tts.run(parse(["map-phones", "--target", str(tmp_path / "t.tsv"), "--source", str(tmp_path / "s.tsv"),
                          "--out", str(tmp_path / "map.tsv")])) == 0
    assert "q\tk\t" in (tmp_path / "map.tsv").read_text()


def test_every_action_parses():
    for argv in (["prepare", "--lang", "kk", "--out-dir", "d"],
                 ["dump", "--data-dir", "d", "--lang", "kk", "--out-dir", "o"],
                 ["train", "--out-dir", "e", "init=x"],
                 ["synthesize", "--model", "m", "--text", "t", "--out-dir", "o"],
                 ["evaluate", "--syn-dir", "s", "--exp-dir", "e"],
                 ["table", "--exp-dir", "e", "--targets", "kk", "--out", "o"]):
        assert parse(argv).action == argv[0]
