import subprocess
import sys


def test_import_ponder_pulls_no_optional_dependency():
    code = ("import sys, ponder, ponder.cli, ponder.strategies, ponder.eval.runner; "
            "heavy = {'ray', 'openai', 'matplotlib', 'fastapi', 'uvicorn', 'llama_cpp'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
