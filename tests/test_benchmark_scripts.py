"""Every script in benchmarks/ answers ``--help`` with its usage and runs nothing: a benchmark
takes minutes to hours and rewrites its committed results (bench_slice.py used to run the slice
on ``--help``; refactor_trace.py wrote its fingerprint to a file named ``--help``)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def _files(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_every_benchmark_script_answers_help_and_writes_nothing(tmp_path):
    assert len(SCRIPTS) >= 20
    before = _files(ROOT / "benchmarks")
    for script in SCRIPTS:
        r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {script.name}"), (script.name, r.stderr[-500:])
    assert _files(ROOT / "benchmarks") == before and list(tmp_path.iterdir()) == []
