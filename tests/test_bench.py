"""The benchmark runs and prints its table (no timing assertions: speed depends on the machine)."""
import argparse
import os

import pytest

from minipad import bench

EXPECTED_COLUMNS = ["size", "params", "BLAS threads", "threads", "ms/step", "best ms", "tokens/s", "GFLOP/s",
                    "% of matmul", "speed-up"]
TINY = ["--sizes", "1x2x8,2x2x16", "--batch", "3", "--seq-len", "5", "--vocab", "11", "--steps", "2",
        "--warmup", "1", "--pause", "0", "--matmul-size", "32"]


def parse(argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(argv)


def table_rows(output):
    """The table's data rows, split into cells on runs of two or more spaces."""
    lines = output.splitlines()
    header_index = next(i for i, line in enumerate(lines) if line.startswith("size "))
    header = lines[header_index]
    for column in EXPECTED_COLUMNS:
        assert column in header, f"column {column!r} missing from {header!r}"
    rows = []
    for line in lines[header_index + 2:]:
        if not line.strip() or line.startswith("other programs used"):
            break
        rows.append(line.split())
    return rows


def test_tiny_benchmark_prints_every_size_and_thread_count(capsys):
    assert bench.run(parse(TINY)) == 0
    output = capsys.readouterr().out
    assert "float32 matmul peak" in output
    assert "other programs used" in output or not os.path.exists("/proc/stat")
    assert "FLOPs per step = 6*B*T*(12*L*C^2 + V*C) + 12*L*B*T^2*C" in output
    rows = table_rows(output)
    assert [(row[0], row[3]) for row in rows] == [("1x2x8", "1"), ("1x2x8", "2"), ("2x2x16", "1"), ("2x2x16", "2")]
    for row in rows:
        assert len(row) == len(EXPECTED_COLUMNS)
        assert float(row[4]) >= float(row[5]) > 0 and float(row[6]) > 0  # median ms >= best ms; tokens/s
        assert row[8].endswith("%") and row[9].endswith("x")
    assert rows[0][9] == "1.00x"  # speed-up is measured against one thread


def test_benchmark_per_blas_thread_count_runs_in_child_processes(capsys):
    assert bench.run(parse(["--sizes", "1x2x8"] + TINY[2:] + ["--threads", "1", "--blas-threads", "1"])) == 0
    output = capsys.readouterr().out
    assert "float32 matmul peak (BLAS threads 1)" in output
    rows = table_rows(output)
    assert len(rows) == 1 and rows[0][2] == "1"  # the child ran with one BLAS thread


def test_step_flops_by_hand():
    # L=2, C=64, V=100, B=32, T=180: N = 12*2*64^2 + 100*64 = 98304 + 6400 = 104704
    # 6*B*T*N = 6*5760*104704 = 3_618_570_240; attention 12*2*32*180^2*64 = 1_592_524_800
    assert bench.step_flops(2, 64, 100, 32, 180) == 3_618_570_240 + 1_592_524_800


def test_sizes_are_checked():
    assert bench.parse_sizes("2x4x64, 4X4X128") == [(2, 4, 64), (4, 4, 128)]
    for bad in ["2x4", "2x4x63", "0x4x64", "axbxc"]:
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_sizes(bad)


def test_matmul_rate_is_positive():
    assert bench.matmul_gflops(32, repeats=1) > 0
    assert bench.matmul_gflops(32, repeats=1, n_threads=2) > 0


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--steps", "x"], ["--pause", "-1"], ["--threads", "1,0"],
                                  ["--sizes", "2x3x64"], ["--warmup", "-1"]])
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
