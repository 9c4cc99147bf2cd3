"""``python -m evoprune.finetune_mask``: any mask file of a run fine-tuned and reported like the
run's own methods; every mistake in its arguments is one line and exit status 2."""

import json
import re
import subprocess
import sys

import pytest

from evoprune.finetune_mask import main
from evoprune.report.results import RESULTS_FILE
from tests.helpers import FAST, app_env, compose_config

pytestmark = pytest.mark.slow  # runs of the app and of the finetune_mask command


@pytest.fixture(scope="module")
def nsga_run(tmp_path_factory):
    """A finished NSGA-II smoke run (its dense model cached), read but never modified. Scored
    right after pruning (proxy.epochs=0), so the front's val_acc is the accuracy before
    fine-tuning that the command reports."""
    from evoprune.run import run

    root = tmp_path_factory.mktemp("nsga_run")
    run(compose_config(FAST + ["search=nsga2", "budget=0.4", "proxy.epochs=0",
                               f"cache_dir={root / 'cache'}"]), root / "run")
    return root / "run"


def test_a_run_mask_is_fine_tuned_as_the_run_fine_tuned_it(nsga_run, tmp_path, capsys):
    out = tmp_path / "nsga2.json"
    assert main([str(nsga_run), str(nsga_run / "mask_nsga2.json"), "--out", str(out),
                 "--no-progress"]) == 0
    saved = json.loads(out.read_text())
    reported = json.loads((nsga_run / RESULTS_FILE).read_text())["methods"]["nsga2"]
    # same data, dense model, recipe and seed as the run's finish stage: the same figures
    for key in ("test_acc_before_finetune", "val_acc_before_finetune", "test_acc", "val_acc",
                "macs", "macs_ratio", "params"):
        assert saved[key] == pytest.approx(reported[key]), key
    assert saved["member"] is None and saved["mask_file"].endswith("mask_nsga2.json")
    printed = " ".join(capsys.readouterr().out.split())
    assert (f"test acc {reported['test_acc_before_finetune']:.4f} before fine-tuning, "
            f"{reported['test_acc']:.4f} after") in printed
    assert f"MACs ratio {reported['macs_ratio']:.3f}" in printed


def test_a_front_member_is_picked_by_index(nsga_run):
    front = json.loads((nsga_run / "pareto.json").read_text())["front"]
    last = len(front) - 1
    assert main([str(nsga_run), str(nsga_run / "pareto.json"), "--member", str(last),
                 "--no-progress"]) == 0
    saved = json.loads((nsga_run / f"finetuned_pareto_member{last}.json").read_text())
    (nsga_run / f"finetuned_pareto_member{last}.json").unlink()  # leave the run as it was
    assert saved["member"] == last
    assert saved["macs_ratio"] == pytest.approx(front[last]["macs_ratio"])
    assert saved["val_acc_before_finetune"] == pytest.approx(front[last]["val_acc"])
    assert 0.0 <= saved["test_acc"] <= 1.0


def _mask(nsga_run) -> dict:
    return json.loads((nsga_run / "mask_nsga2.json").read_text())


@pytest.mark.parametrize("case, message", [
    ("no run dir", "error: run directory .*nowhere does not exist"),
    ("not a run dir", "error: .* holds no checkpoint/config.json: pass the directory of a run"),
    ("no mask file", "error: mask file .*missing.json does not exist"),
    ("bad JSON", "error: mask file .*bad.json is not valid JSON: "),
    ("not a mask", "error: .*list.json is not a mask file: expected a JSON object with 'groups'"),
    ("wrong groups", "error: .*other.json does not fit the model of .*: mask groups "
                     r"\[\('.*', 99\).*\] do not match this model's groups"),
    ("index past a group", "error: .*past.json does not fit the model of .*: group '.*' must "
                           "keep distinct unit indices from 0 to \\d+, got \\[.*\\]"),
    ("front without member", "error: .*pareto.json is a Pareto front of \\d+ members: choose "
                             "one with --member I, I from 0 to \\d+"),
    ("member out of range", "error: --member 999 is out of range: .*pareto.json has \\d+ "
                            "members, 0 to \\d+"),
    ("member of a single mask", "error: --member 0 picks a member of a pareto.json front; "
                                ".*mask_nsga2.json is a single mask: drop --member"),
])
def test_mistakes_are_one_line_and_exit_2(nsga_run, tmp_path, capsys, case, message):
    run_dir, mask, extra = str(nsga_run), str(nsga_run / "mask_nsga2.json"), []
    if case == "no run dir":
        run_dir = str(tmp_path / "nowhere")
    elif case == "not a run dir":
        run_dir = str(tmp_path)
    elif case == "no mask file":
        mask = str(tmp_path / "missing.json")
    elif case == "bad JSON":
        (tmp_path / "bad.json").write_text('{"groups": [')
        mask = str(tmp_path / "bad.json")
    elif case == "not a mask":
        (tmp_path / "list.json").write_text("[1, 0, 1]")
        mask = str(tmp_path / "list.json")
    elif case == "wrong groups":
        other = _mask(nsga_run)
        other["groups"][0]["size"] = 99
        (tmp_path / "other.json").write_text(json.dumps(other))
        mask = str(tmp_path / "other.json")
    elif case == "index past a group":
        past = _mask(nsga_run)
        past["groups"][0]["keep"].append(past["groups"][0]["size"])
        (tmp_path / "past.json").write_text(json.dumps(past))
        mask = str(tmp_path / "past.json")
    elif case in ("front without member", "member out of range"):
        mask = str(nsga_run / "pareto.json")
        extra = ["--member", "999"] if case == "member out of range" else []
    else:
        extra = ["--member", "0"]
    assert main([run_dir, mask, *extra, "--no-progress"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert re.match(message, line), line


def test_the_command_line_prints_no_traceback(nsga_run, tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "evoprune.finetune_mask", str(nsga_run),
         str(nsga_run / "pareto.json"), "--member", "-1"],
        cwd=tmp_path, env=app_env(), capture_output=True, text=True, timeout=300)
    assert process.returncode == 2 and "Traceback" not in process.stdout + process.stderr
    assert process.stderr.strip().splitlines() == [
        f"error: --member -1 is out of range: {nsga_run / 'pareto.json'} has "
        f"{len(json.loads((nsga_run / 'pareto.json').read_text())['front'])} members, 0 to "
        f"{len(json.loads((nsga_run / 'pareto.json').read_text())['front']) - 1}"]
