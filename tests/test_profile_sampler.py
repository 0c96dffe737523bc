"""tools/profile_sampler.py: perf's report parsed and grouped by kind of code, and a tiny run where perf works."""

import json
import os

import pytest

# `perf report --sort dso,sym --stdio` output as perf 6.x prints it (trimmed), with the shapes the parser meets:
# header comments, a [JIT] map, kernel symbols, long C++ names, blank lines.
REPORT = """\
# To display the perf.data header info, please use --header/--header-only options.
#
# Total Lost Samples: 0
#
# Samples: 15K of event 'cpu-clock:ppp'
# Event count (approx.): 15828328000
#
# Overhead  Shared Object         Symbol
# ........  ....................  ......
#
    73.34%  libjax_common.so      [.] ynn::dot_fp32_5x64x1_1x16x1_avx512
     5.79%  libjax_common.so      [.] ynn::transpose_x2048_avx
     1.09%  [JIT] tid 29998       [.] 0x00007f33fc797084
     0.92%  [JIT] tid 29998       [.] 0x00007f3439ded1dd
     0.37%  libjax_common.so      [.] ynn::run_dot<ynn::(anonymous namespace)::make_dot_impl(ynn::dot_type, bool)::$_0>
     0.14%  libc.so.6             [.] _int_malloc
     0.12%  libjax_common.so      [.] ynn::dot_fp32_8x4x2_1x4x2_avx2_fma3
     0.11%  [kernel.kallsyms]     [k] finish_task_switch.isra.0
     0.10%  libjax_common.so      [.] xla::cpu::ThunkExecutor::Execute<xla::cpu::ThunkExecutor::FifoReadyQueue>


"""


@pytest.fixture(scope="module")
def profile(load_tool):
    return load_tool("profile_sampler")


def test_parse_perf_report_reads_every_symbol_line(profile):
    rows = profile.parse_perf_report(REPORT)
    assert len(rows) == 9
    assert rows[0] == {"percent": 73.34, "dso": "libjax_common.so", "symbol": "ynn::dot_fp32_5x64x1_1x16x1_avx512"}
    assert rows[2] == {"percent": 1.09, "dso": "[JIT] tid 29998", "symbol": "0x00007f33fc797084"}
    assert rows[7]["dso"] == "[kernel.kallsyms]" and rows[7]["symbol"] == "finish_task_switch.isra.0"
    assert rows[4]["symbol"].startswith("ynn::run_dot<") and rows[4]["symbol"].endswith("$_0>")
    assert profile.parse_perf_report("# only comments\n#\n\n") == []


@pytest.mark.parametrize("dso, symbol, expected", [
    ("libjax_common.so", "ynn::dot_fp32_5x64x1_1x16x1_avx512", "matmul kernels"),
    ("libjax_common.so", "ynn::run_dot<...>", "matmul kernels"),
    ("libjax_common.so", "Eigen::internal::gebp_kernel<float, float, long>::operator()", "matmul kernels"),
    ("libjax_common.so", "ynn::transpose_x2048_avx", "matmul operand packing"),
    ("libjax_common.so", "ynn::dot_bf16_bf16_fp32_32x32x32_16x16x2_amxbf16", "matmul kernels"),
    ("libjax_common.so", "ynn::interleave2_x16_avx512", "matmul operand packing"),  # bfloat16 pairs for AMX
    ("libjax_common.so", "xnn_x32_packw_gemm_goi_ukernel__avx512f_u4", "matmul operand packing"),
    ("libjax_common.so", "xnn_f32_gemm_minmax_ukernel_7x16__avx512f", "matmul kernels"),
    ("libjax_common.so", "Eigen::internal::gemm_pack_rhs<float, long>::operator()", "matmul operand packing"),
    ("[JIT] tid 29998", "0x00007f33fc797084", "XLA-generated code"),
    ("[kernel.kallsyms]", "finish_task_switch.isra.0", "runtime and other"),
    ("libc.so.6", "_int_malloc", "runtime and other"),
    ("libjax_common.so", "xla::cpu::ThunkExecutor::Execute<xla::cpu::ThunkExecutor::FifoReadyQueue>",
     "runtime and other"),
])
def test_category_of(profile, dso, symbol, expected):
    assert profile.category_of(dso, symbol) == expected


def test_group_samples_sums_each_group(profile):
    shares = profile.group_samples(profile.parse_perf_report(REPORT))
    assert list(shares) == list(profile.CATEGORIES)
    assert shares["matmul kernels"] == pytest.approx(73.34 + 0.37 + 0.12)
    assert shares["matmul operand packing"] == pytest.approx(5.79)
    assert shares["XLA-generated code"] == pytest.approx(1.09 + 0.92)
    assert shares["runtime and other"] == pytest.approx(0.14 + 0.11 + 0.10)


def test_without_perf_the_tool_says_so(profile, monkeypatch, capsys):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # main appends the CLI's flags; undone after
    monkeypatch.setattr(profile, "perf_command", lambda: None)
    assert profile.main(["--tiny"]) == 2
    assert "perf not found" in capsys.readouterr().err


def test_tiny_run_profiles_the_sampler(profile, tmp_path, monkeypatch, capsys):
    if profile.perf_command() is None:
        pytest.skip("perf is not installed")
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    output = tmp_path / "profile.json"
    status = profile.main(["--tiny", "--output", str(output)])
    captured = capsys.readouterr()
    if status == 2 and "perf record failed" in captured.err:
        pytest.skip(f"perf cannot attach here: {captured.err.strip()[-200:]}")
    assert status == 0, captured.err
    results = json.loads(output.read_text())
    assert results["calls"] >= 1 and len(results["call_seconds"]) == results["calls"]
    assert sum(results["groups"].values()) == pytest.approx(100.0, abs=2.0)  # perf's shares of all samples
    assert results["symbols"] and results["frames"] == 1 and results["hypotheses"] == 8
    assert "| matmul kernels |" in captured.out and results["machine"]["cpu_model"]
