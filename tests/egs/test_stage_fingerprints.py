"""A stage is skipped when its done-marker matches its fingerprint (utils/stage.sh: the --config files, the
--env variables, the command and the body of a function stage). A recipe option that a stage function reads
must therefore be declared with --env (or passed on the stage's command line), or changing it (e.g.
`--targets "kk bg"`) would skip the stage as "done before with the same options". The template's helpers
(egs/TEMPLATE/utils/common.sh: decode_sets, score_sets, ...) count as the script's functions."""

import re
from pathlib import Path

import pytest

EGS = Path(__file__).resolve().parents[2] / "egs"
COMMON = EGS / "TEMPLATE" / "utils" / "common.sh"
SCRIPTS = sorted(p for p in EGS.glob("*/*/*.sh") if not p.is_symlink() and "run_stage " in p.read_text()
                 and p.parent.name != "example")
# options that change where or how fast a stage runs, or where it caches downloads, not what it computes
NOT_OUTPUT = {"stage", "stop_stage", "force", "expdir", "nj", "nproc", "help_message", "downloads"}
OPTION = re.compile(r"^([a-z_][a-z0-9_]*)=.*#", re.M)
FUNCTION = re.compile(r"^([a-z_][a-z0-9_]*)\(\) *\{\n(.*?)^\}", re.M | re.S)


def stage_coverage_gaps(script: Path) -> list[str]:
    text = script.read_text()
    header = text.split("utils/parse_options.sh")[0]
    options = set(OPTION.findall(header)) - NOT_OUTPUT
    bodies = dict(FUNCTION.findall(COMMON.read_text() + text))
    gaps = []
    for line in re.findall(r"^run_stage .*(?:\\\n.*)*", text, re.M):
        declared, _, command = line.partition(" -- ")
        func = command.split()[0] if command.split() else ""
        if func not in bodies:
            continue  # a command stage: its arguments are in the fingerprint
        seen, todo, reads = set(), [func], set()
        while todo:  # the function and the script functions it calls
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            body = bodies[name]
            reads |= set(re.findall(r"\$\{?([a-z_][a-z0-9_]*)", body))
            # `queue KIND LOG -- CMD` and `legokit SUBCOMMAND`: KIND and SUBCOMMAND are not calls of a function
            calls = re.sub(r"\b(queue|legokit) +\S+", r"\1", body)
            todo += [f for f in bodies if re.search(rf"(^|[\s;(]){f}\b", calls)]
        covered = set(re.findall(r"--env (\w+)", declared)) | set(re.findall(r"\$\{?(\w+)", declared + command))
        stage = line.split(" --")[0]
        gaps += [f"{stage}: reads ${var} without --env {var}" for var in sorted(reads & options - covered)]
    return gaps


def test_scripts_found():
    assert any(p.name == "tts.sh" for p in SCRIPTS) and len(SCRIPTS) >= 4


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(EGS)))
def test_stage_fingerprint_covers_the_options_its_function_reads(script):
    assert stage_coverage_gaps(script) == []
