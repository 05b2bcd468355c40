"""The benchmark runs and prints its tables (no timing assertions: speed depends on the machine)."""
import argparse
import os
import subprocess
import sys
import time

import pytest

from minipad import bench
from minipad.cli.bench import add_arguments, parse_sizes

EXPECTED_COLUMNS = ["size", "params", "BLAS threads", "rows", "workers", "ms/step", "best ms", "real tok/s",
                    "padded tok/s", "GFLOP/s", "% of matmul", "peak MiB", "speed-up"]
TINY = ["--sizes", "1x2x8,2x2x16", "--batch", "3", "--steps", "2", "--warmup", "1", "--pause", "0",
        "--matmul-size", "32", "--decode-problems", "0", "--eval-problems", "0"]


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def table_rows(output, first_header="size "):
    """The table's data rows, split into cells on runs of two or more spaces."""
    lines = output.splitlines()
    header_index = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    rows = []
    for line in lines[header_index + 2:]:
        if not line.strip() or line.startswith(("other processes used", "peak resident memory")):
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return lines[header_index], rows


def test_tiny_benchmark_prints_every_size_and_contender(capsys):
    assert bench.run(parse(TINY)) == 0
    output = capsys.readouterr().out
    assert "float32 matmul peak" in output
    assert "other processes used" in output or not os.path.exists("/proc/stat")
    assert "FLOPs per step = sum over problems of 6*N*t + 12*L*t^2*C" in output
    assert "peak resident memory so far: this process" in output
    header, rows = table_rows(output)
    for column in EXPECTED_COLUMNS:
        assert column in header, f"column {column!r} missing from {header!r}"
    assert [(row[0], row[3], row[4]) for row in rows] == [
        ("1x2x8", "packed", "1"), ("1x2x8", "packed", "2"), ("1x2x8", "padded", "2"),
        ("2x2x16", "packed", "1"), ("2x2x16", "packed", "2"), ("2x2x16", "padded", "2")]
    for row in rows:
        assert len(row) == len(EXPECTED_COLUMNS)
        assert float(row[5]) >= float(row[6]) > 0  # median ms >= best ms
        assert float(row[8]) >= float(row[7]) > 0  # padded tokens are at least the real ones
        assert row[10].endswith("%") and float(row[11]) > 0 and row[12].endswith("x")
    assert rows[0][12] == "1.00x"  # speed-up is measured against the first contender


def test_decoding_and_evaluation_are_timed(capsys):
    argv = ["--sizes", "1x2x8", "--batch", "2", "--steps", "1", "--warmup", "0", "--pause", "0", "--workers", "1",
            "--padded-workers", "0", "--matmul-size", "32", "--decode-problems", "2", "--recompute-problems", "1",
            "--new-tokens", "4", "--eval-problems", "3"]
    assert bench.run(parse(argv)) == 0
    _, rows = table_rows(capsys.readouterr().out, first_header="decoding ")
    names = [row[0] for row in rows]
    assert names == ["key/value cache", "recomputing every prefix", "speed-up of the cache",
                     "evaluation (minipad.evaluate)"]
    assert rows[2][-1].endswith("x")
    assert float(rows[3][-1]) > 0


def test_time_to_accuracy_smoke(capsys, tmp_path):
    argv = ["--sizes", "1x2x8", "--batch", "2", "--steps", "1", "--warmup", "0", "--pause", "0", "--workers", "1",
            "--padded-workers", "0", "--matmul-size", "32", "--decode-problems", "0", "--eval-problems", "0",
            "--time-to-accuracy", "--seeds", "3", "--max-steps", "2", "--eval-every", "1", "--tta-problems", "2",
            "--out", str(tmp_path)]
    assert bench.run(parse(argv)) == 0
    output = capsys.readouterr().out
    assert "time to accuracy" in output
    _, rows = table_rows(output, first_header="seed ")
    assert len(rows) == 1 and rows[0][:2] == ["3", "2"]  # seed 3 trained its 2 steps
    assert "final % (2 held-out)" in output and 0 <= float(rows[0][-1]) <= 100  # on --tta-problems, measured
    assert (tmp_path / "time-to-accuracy-seed3" / "model.npz").exists()


def test_benchmark_per_blas_thread_count_runs_in_child_processes(capsys):
    argv = ["--sizes", "1x2x8"] + TINY[2:] + ["--workers", "1", "--padded-workers", "0", "--blas-threads", "1"]
    assert bench.run(parse(argv)) == 0
    output = capsys.readouterr().out
    assert "float32 matmul peak (BLAS threads 1)" in output
    _, rows = table_rows(output)
    assert len(rows) == 1 and rows[0][2] == "1"  # the child ran with one BLAS thread


def test_step_flops_by_hand():
    # L=2, C=64, V=100: N = 12*2*64^2 + 100*64 = 98304 + 6400 = 104704
    # one problem of 180 tokens: 6*180*N = 113_080_320; attention 12*2*180^2*64 = 49_766_400
    assert bench.step_flops(2, 64, 100, [180]) == 113_080_320 + 49_766_400
    assert bench.step_flops(2, 64, 100, [180, 180]) == 2 * (113_080_320 + 49_766_400)


def test_sizes_and_schemes_are_checked():
    assert parse_sizes("2x4x64, 4X4X128") == [(2, 4, 64), (4, 4, 128)]
    for bad in ["2x4", "2x4x63", "0x4x64", "axbxc"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_sizes(bad)
    config = bench.bench_config(parse(["--scheme", "coupled+places+roles+window"]))
    assert (config.position_ids, config.places, config.line_window) == ("coupled", 33, True)
    config = bench.bench_config(parse(["--scheme", "rope"]))  # plain rotary positions, whatever the defaults
    assert (config.position, config.position_ids, config.places, config.roles, config.line_window) == \
        ("rope", "plain", 0, 0, False)


def test_matmul_rate_is_positive():
    assert bench.matmul_gflops(32, repeats=1) > 0
    assert bench.matmul_gflops(32, repeats=1, n_at_once=2) > 0


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--steps", "x"], ["--pause", "-1"], ["--workers", "1,0"],
                                  ["--sizes", "2x3x64"], ["--warmup", "-1"], ["--scheme", "nonsense"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        parse(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_other_cpu_use_is_a_share_between_zero_and_one():
    meter = bench.OtherCpuUse()
    sum(i * i for i in range(200_000))  # this process's own work is not counted as others'
    share = meter.share()
    assert share is None or 0.0 <= share <= 1.0


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_processes_this_one_started_count_as_its_own():
    """A child and its own child (as vs_torch's workers start workers) are found; they end with our pipe."""
    waits = "import sys; sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                              f"'-c', {waits!r}]); {waits}"], stdin=subprocess.PIPE)
    try:
        for _ in range(200):  # until the grandchild has started
            found = bench.descendants(os.getpid())
            if len(found) == 2:
                break
            time.sleep(0.05)
        assert child.pid in found and len(found) == 2, found
    finally:
        child.stdin.close()
        child.wait()
