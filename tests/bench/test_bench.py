"""The bench's own arithmetic: a run's window in its log, and the CPU taken within it."""

from __future__ import annotations

from collections import namedtuple

import pytest

from bench.bench import Run, Stages, main, run_times, within

Times = namedtuple("Times", "user system idle iowait")

LOG = """\
2026-12-01T10:00:00.000000Z [info     ] Task started                   [airflow]
2026-12-01T10:00:01.000000Z [info     ] No tasks to run                [airflow]
2026-12-01T10:00:20.000000Z [info     ] DagRun Finished                [airflow]
"""


def test_a_run_window_is_its_first_task_start_to_its_end(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG, encoding="utf-8")
    start, end, span = run_times(log)
    assert end - start == pytest.approx(20.0)
    assert span == pytest.approx(19.0)  # less the second `dags test` slept finding no task ready
    log.write_text(LOG.splitlines()[0] + "\n", encoding="utf-8")
    assert run_times(log) is None


def test_cpu_within_a_window_is_taken_between_the_samples_nearest_its_ends():
    samples = [  # (epoch, machine CPU times, the run's process CPU seconds)
        (99.0, Times(10, 0, 90, 0), 1.0),  # start-up: before the window
        (100.1, Times(20, 0, 100, 0), 5.0),
        (105.0, Times(26, 2, 108, 0), 8.0),
        (110.0, Times(32, 4, 112, 4), 14.0),
        (112.0, Times(40, 4, 112, 4), 20.0),  # after the window
    ]
    busy, cpu = within(samples, (100.0, 110.1))
    assert cpu == pytest.approx(9.0)  # 14.0 - 5.0: the start-up's and the end's CPU left out
    assert busy == pytest.approx(16 / 32)  # 16 busy of 32 s of CPU time (iowait counts as idle)
    assert within(samples, None) == (0.0, 0.0) and within(samples[:1], (100.0, 110.0)) == (0.0, 0.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--rounds", "0"],
        ["--raised-limits", "100,100"],
        ["--raised-limits", "0,200"],
        ["--scale-sizes", "100000"],
        ["--scale-sizes", "1000,1000"],
    ],
)
def test_the_bench_refuses_options_that_would_mislead(argv, capsys):
    """Two runs of one limit would share an emulator database (the second finds the first's seals and makes
    almost no calls), a limit of 0 is the lifted run's, and no round means no figure. Stage 9 compares its largest
    size with its smallest: one size would compare a run with itself (1.00x, always met)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and argv[0] in capsys.readouterr().err


def test_a_run_that_fails_its_check_has_no_rate_to_judge(tmp_path, capsys):
    stages = Stages(bench=None, opts=None)
    good, bad = (Run(name, 100, 10.0, 0, 200.0, span=5.0) for name in ("good", "bad"))
    for run in (good, bad):
        stages.staged(run, Run("empty", 0, 1.0, 0, 200.0, span=1.0))
    stages.check(True, "fine", good)
    stages.check(False, "bad: 3 seals missing", bad)
    assert good.rated and not bad.rated and stages.problems == ["bad: 3 seals missing"]
    assert good.rate == 25.0  # 100 tenants in 5 - 1 s
