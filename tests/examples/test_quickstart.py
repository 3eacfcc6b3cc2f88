import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_runs_and_says_where_it_ran():
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "ran on onnxruntime:cpu (fp32); top class" in done.stdout
    assert "chosen: onnxruntime:cpu" in done.stdout
