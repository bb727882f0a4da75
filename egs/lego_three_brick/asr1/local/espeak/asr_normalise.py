#!/usr/bin/env python3
"""Write a Kaldi text file (``<id> <sentence>`` lines) in the ASR scoring form of egs/espeak_en/asr1:
lower-case, punctuation removed, apostrophes inside words kept (legokit.corpora.text.asr_normalise).

Used twice by local/espeak/run.sh: to make brick 2's source side (the normalised English that brick 1
transcribes) from the cased English text, and to score the three-brick model, whose decoder (trained on
cased English) writes case and punctuation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from legokit.corpora.text import asr_normalise
from legokit.errors import LegokitError
from legokit.fileio import check_outputs, read_text_lines, write_atomic


def normalise_file(src: Path, out: Path) -> int:
    """Normalise every line of ``src`` into ``out``; the number of lines written."""
    check_outputs([src], [out])
    lines = []
    for number, line in enumerate(read_text_lines(src), 1):
        if not line.strip():
            continue
        utt, _, sentence = line.partition(" ")
        if not utt:
            raise LegokitError(f"{src}:{number}: expected '<id> <sentence>', got a line starting with a space")
        lines.append(f"{utt} {asr_normalise(sentence)}".rstrip() + "\n")
    write_atomic("".join(lines), out)
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="Kaldi text file to read (left unchanged)")
    parser.add_argument("out", type=Path, help="normalised Kaldi text file to write (not the input)")
    args = parser.parse_args()
    try:
        count = normalise_file(args.src, args.out)
    except LegokitError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{args.out}: {count} lines")


if __name__ == "__main__":
    main()
