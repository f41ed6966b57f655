"""The roformer-np command line, in-process (``main([...])``) and once as ``python -m roformer_np``."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import GOLDEN

import roformer_np
from roformer_np import load_weights
from roformer_np.cli import main
from roformer_np.pipelines import factory


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory):
    from fake_models import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("mlm"), "mlm")


@pytest.fixture(scope="module")
def subprocess_env() -> dict:
    """The environment for ``python -m roformer_np``: it imports the same roformer_np as this test run
    (installed or source tree); runs happen in an empty directory, because ``python -m`` puts the working
    directory first on sys.path."""
    package_root = str(Path(roformer_np.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(autouse=True)
def demo(monkeypatch, demo_root):
    monkeypatch.setattr(factory, "DEMO_ROOT", demo_root)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal, empty
    return demo_root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q" if a == "<quiet>" else a for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


# -- task commands -------------------------------------------------------------------------------
def test_fill_mask_text_and_json(capsys):
    code, out, err = run(capsys, "fill-mask", "水在零度时会[MASK]", "--top-k", "3")
    assert code == 0 and "error" not in err
    lines = out.splitlines()
    assert lines[0] == "水在零度时会[MASK]" and len(lines) == 4
    code, out, _ = run(capsys, "fill-mask", "--json", "今天[MASK]", "北京是[MASK]国的首都")
    records = json_lines(out)
    assert [r["text"] for r in records] == ["今天[MASK]", "北京是[MASK]国的首都"]
    assert all(len(r["result"]) == 5 and set(r["result"][0]) == {"score", "token", "token_str", "sequence"}
               for r in records)


def test_stdin_dash_and_implicit(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("今天[MASK]\n北京[MASK]\n"))
    code, out, _ = run(capsys, "fill-mask", "--json", "--top-k", "1", "-")
    assert code == 0 and [r["text"] for r in json_lines(out)] == ["今天[MASK]", "北京[MASK]"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("上海[MASK]\n"))
    code, out, _ = run(capsys, "fill-mask", "--json")
    assert code == 0 and json_lines(out)[0]["text"] == "上海[MASK]"


def test_input_file_plain_and_json_lines(capsys, tmp_path):
    plain = tmp_path / "texts.txt"
    plain.write_text("这本书很好看\n不好\n", encoding="utf-8")
    code, out, _ = run(capsys, "classify", "--input", str(plain))
    assert code == 0
    assert [line.split("\t")[1] for line in out.splitlines()] == ["这本书很好看", "不好"]
    assert all(line.split()[0] in ("negative", "positive") for line in out.splitlines())
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text('{"id": 7, "text": "这本书很好看"}\n{"id": 8, "text": "不好"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "classify", "-i", str(jsonl), "--json", "--top-k", "all")
    records = json_lines(out)
    assert [r["id"] for r in records] == [7, 8]
    assert all(len(r["result"]) == 2 for r in records)  # every label, best first


def test_ner_and_embed(capsys):
    code, out, _ = run(capsys, "ner", "张三在北京工作", "--json", "--aggregation", "none", "--ignore-labels")
    (record,) = json_lines(out)
    assert code == 0 and record["result"] and {"entity", "score", "index", "word", "start", "end"} == \
        set(record["result"][0])
    code, out, _ = run(capsys, "ner", "张三在北京工作")
    assert code == 0 and out.startswith("张三在北京工作\n")
    code, out, _ = run(capsys, "embed", "--json", "--normalize", "今天天气很好")
    (record,) = json_lines(out)
    assert len(record["result"]) == 16 and abs(np.linalg.norm(record["result"]) - 1) < 1e-5
    code, out, _ = run(capsys, "embed", "--pooling", "none", "今天天气很好")
    assert code == 0 and "tokens x 16" in out


def test_qa_from_arguments_and_json_lines(capsys, tmp_path, qa_dir):
    code, out, _ = run(capsys, "qa", "--model", str(qa_dir), "-Q", "谁在北京工作？", "张三在北京工作。", "--json")
    (record,) = json_lines(out)
    assert code == 0 and record["question"] == "谁在北京工作？" and record["context"] == "张三在北京工作。"
    assert record["result"]["answer"] == record["context"][record["result"]["start"]:record["result"]["end"]]
    pairs = tmp_path / "qa.jsonl"
    pairs.write_text('{"question": "谁？", "context": "张三在北京工作。"}\n{"question": "哪里？", "context": "北京"}\n',
                     encoding="utf-8")
    code, out, _ = run(capsys, "qa", "-m", str(qa_dir), "--input", str(pairs), "--top-k", "2")
    assert code == 0 and out.count("Q: ") == 2


def test_generate(capsys, lm_dir):
    code, out, _ = run(capsys, "generate", "--model", str(lm_dir), "--no-do-sample", "--max-new-tokens", "3",
                       "--json", "今天天气")
    (record,) = json_lines(out)
    assert code == 0 and record["result"][0]["generated_text"].startswith("今天天气")
    code, again, _ = run(capsys, "generate", "--model", str(lm_dir), "--no-do-sample", "--max-new-tokens", "3",
                         "--json", "今天天气")
    assert again == out


def test_blank_lines_keep_their_place(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("这本书很好看\n\n  \n不好\n"))
    code, out, _ = run(capsys, "classify", "--json", "-")
    records = json_lines(out)
    assert code == 0 and [r["text"] for r in records] == ["这本书很好看", "", "  ", "不好"]
    assert [r["result"] is None for r in records] == [False, True, True, False]
    monkeypatch.setattr(sys, "stdin", io.StringIO("这本书很好看\n\n不好\n"))
    code, out, _ = run(capsys, "classify", "-")
    lines = out.split("\n")
    assert code == 0 and lines[1] == "" and lines[0].endswith("\t这本书很好看") and lines[2].endswith("\t不好")
    # fill-mask cannot take an empty text (no mask), but a blank line is not run: no error
    monkeypatch.setattr(sys, "stdin", io.StringIO("今天[MASK]\n\n"))
    code, out, err = run(capsys, "fill-mask", "--json", "--top-k", "1")
    assert code == 0 and err == "" and [r["result"] is None for r in json_lines(out)] == [False, True]
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text('{"id": 1, "text": "好"}\n\n{"id": 2, "text": "不好"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "classify", "--json", "-i", str(jsonl))
    assert code == 0 and json_lines(out)[1] == {"result": None} and json_lines(out)[2]["id"] == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n \n"))
    code, out, err = run(capsys, "classify")
    assert code == 2 and out == "" and "holds no text" in err


def test_line_endings_and_byte_order_mark(capsys, tmp_path):
    texts = tmp_path / "windows.txt"
    texts.write_bytes("\ufeff这本书很好看\r\n不好\r好\u2028看\n".encode())  # BOM; CRLF, CR, LF; U+2028 is text
    code, out, _ = run(capsys, "classify", "--json", "-i", str(texts))
    assert code == 0 and [r["text"] for r in json_lines(out)] == ["这本书很好看", "不好", "好\u2028看"]


def test_targets_do_not_swallow_the_text(capsys):
    code, out, err = run(capsys, "fill-mask", "--json", "--targets", "北京", "上海", "今天[MASK]")
    (record,) = json_lines(out)
    assert code == 0 and err == "" and record["text"] == "今天[MASK]"
    assert sorted(p["token_str"] for p in record["result"]) == ["上海", "北京"]
    code, again, _ = run(capsys, "fill-mask", "--json", "--targets", "北京", "上海", "--", "今天[MASK]")
    assert code == 0 and again == out
    code, out, _ = run(capsys, "fill-mask", "--json", "这[MASK]", "--targets", "北京", "今天[MASK]")
    assert code == 0 and [r["text"] for r in json_lines(out)] == ["这[MASK]", "今天[MASK]"]
    assert all([p["token_str"] for p in r["result"]] == ["北京"] for r in json_lines(out))
    code, out, err = run(capsys, "fill-mask", "--targets", "今天[MASK]")
    assert code == 2 and out == "" and "--targets: no target token given" in err


def test_unknown_target_warns_once(capsys):
    code, out, err = run(capsys, "fill-mask", "--json", "--targets", "北京", "hellos", "今天[MASK]")
    assert code == 0 and {p["token_str"] for p in json_lines(out)[0]["result"]} == {"北京", "hello"}
    assert err == "roformer-np: warning: target 'hellos' is not in the vocabulary; using its first token 'hello'\n"


def test_pipeline_defaults_are_parsed_and_warned_once(demo_root):
    import warnings

    from roformer_np import pipeline

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fill = pipeline("fill-mask", model=str(demo_root / "mlm"), tokenizer=str(demo_root), targets=["hellos"])
        fill("今天[MASK]")
        fill(["今天[MASK]", "北京[MASK]"])
    assert [str(w.message) for w in caught] == [
        "target 'hellos' is not in the vocabulary; using its first token 'hello'"]


LONG = "今天天气很好" * 30  # 90 tokens; the fake models take 64


def test_truncation_warns_once_naming_the_limit(capsys):
    code, out, err = run(capsys, "classify", LONG, "不好", LONG)
    assert code == 0 and len(out.splitlines()) == 3
    assert err == "roformer-np: warning: 2 texts are longer than the model's limit of 64 tokens and will be " \
                  "truncated to it\n"
    code, _, err = run(capsys, "embed", LONG)
    assert code == 0 and "1 text is longer than the model's limit of 64 tokens" in err and "--stride" not in err
    code, _, err = run(capsys, "ner", LONG)
    assert code == 0 and err.count("\n") == 1 and "limit of 64 tokens" in err and "--stride N" in err
    code, _, err = run(capsys, "ner", "--stride", "8", LONG)  # windows: nothing is cut
    assert code == 0 and err == ""
    code, _, err = run(capsys, "classify", "今天天气很好" * 10)  # 30 tokens: fits
    assert code == 0 and err == ""
    code, _, err = run(capsys, "classify", "-q", LONG)
    assert code == 0 and err == ""


# -- progress bar --------------------------------------------------------------------------------
def test_progress_bar_only_on_a_terminal_and_not_quiet(capsys, monkeypatch, tmp_path):
    texts = tmp_path / "many.txt"
    texts.write_text("".join(f"第{i}个[MASK]\n" for i in range(6)), encoding="utf-8")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["fill-mask", "--input", str(texts), "--top-k", "1"]) == 0
    assert "/6 [" in terminal.getvalue()  # tqdm's counter
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["fill-mask", "--input", str(texts), "--top-k", "1", "--quiet"]) == 0
    assert terminal.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar
    assert main(["fill-mask", "--input", str(texts), "--top-k", "1"]) == 0
    assert sys.stderr.getvalue() == ""
    capsys.readouterr()


def _in_pty(argv: list[str], env: dict, cwd: Path, cols: int = 80) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on one pseudo-terminal, as in an interactive shell."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=cwd)
    os.close(terminal)
    chunks = []
    try:
        while select.select([controller], [], [], 120)[0]:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(controller)
        proc.kill() if proc.poll() is None else None
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8")


def _screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns go back to column 0, newlines down a row,
    and later characters overwrite earlier ones (tqdm redraws its bar this way)."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for char in raw:
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
            rows += [[] for _ in range(row + 1 - len(rows))]
        else:
            line = rows[row]
            line += [" "] * (col + 1 - len(line))
            line[col] = char
            col += 1
    lines = ["".join(r).rstrip() for r in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_progress_bar_never_garbles_results_on_the_same_terminal(tmp_path, subprocess_env, mlm_dir):
    texts = tmp_path / "many.txt"
    texts.write_text("".join(f"第{i}个[MASK]\n" for i in range(6)), encoding="utf-8")
    argv = [sys.executable, "-m", "roformer_np", "fill-mask", "--model", str(mlm_dir), "--top-k", "2",
            "--batch-size", "1", "--input", str(texts)]
    env = dict(subprocess_env)
    if not roformer_np.native_available():  # asking for the NumPy path: no "kernels not available" warning
        env["ROFORMER_NP_BACKEND"] = "numpy"
    piped = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "" and len(piped.stdout.splitlines()) == 18
    code, raw = _in_pty(argv, env, tmp_path)
    assert code == 0 and "/6 [" in raw  # the bar was drawn ...
    assert _screen(raw) == piped.stdout.splitlines()  # ... and the terminal ends showing the results alone


# -- errors: one line, status 2 ------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["fill-mask", "今天天气很好"], "no mask token [MASK]"),
    (["fill-mask", "--model", "/no/such/dir", "今天[MASK]"], "model directory not found"),
    (["classify", "--input", "/no/such/file.txt"], "cannot read /no/such/file.txt"),
    (["qa", "-Q", "谁？", "张三在北京工作。"], "no demo model"),
    (["generate", "今天"], "--model DIR"),
])
def test_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("roformer-np: error: ") and message in err


def test_input_errors(capsys, tmp_path, monkeypatch, qa_dir):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "好"}\n{"text": \n', encoding="utf-8")
    code, _, err = run(capsys, "classify", "-i", str(bad_json))
    assert code == 2 and f"{bad_json}:2: not a JSON object" in err
    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"txt": "好"}\n', encoding="utf-8")
    code, _, err = run(capsys, "classify", "-i", str(no_text))
    assert code == 2 and "needs a string 'text' field" in err
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xe5\xa5\xbd\n\xff\xfe\x00bad\n")
    code, _, err = run(capsys, "classify", "-i", str(binary))
    assert code == 2 and err == f"roformer-np: error: cannot read {binary}: not UTF-8 text (line 2)\n"
    # stdin, read as bytes whatever its error handler (here Python's surrogateescape): the same error
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(binary.read_bytes()), errors="surrogateescape"))
    code, _, err = run(capsys, "classify", "-")
    assert code == 2 and err == "roformer-np: error: cannot read <stdin>: not UTF-8 text (line 2)\n"
    code, _, err = run(capsys, "qa", "-m", str(qa_dir), "张三在北京工作。")
    assert code == 2 and "no question" in err
    monkeypatch.setattr(sys, "stdin", Terminal())
    code, _, err = run(capsys, "classify")
    assert code == 2 and "no input" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fill-mask", "--top-k", "0", "今天[MASK]"])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err


# -- convert, info -------------------------------------------------------------------------------
def test_convert(capsys, tmp_path):
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(GOLDEN / "cases" / "bin_model_float32", checkpoint)
    code, out, _ = run(capsys, "convert", str(checkpoint))
    assert code == 0 and "model.safetensors" in out
    from_bin = load_weights(checkpoint / "pytorch_model.bin")
    from_safetensors = load_weights(checkpoint / "model.safetensors")
    assert set(from_bin) == set(from_safetensors)
    assert all(np.array_equal(from_bin[k], from_safetensors[k]) for k in from_bin)
    code, _, err = run(capsys, "convert", str(checkpoint))
    assert code == 2 and "exists; use --force" in err
    code, _, _ = run(capsys, "convert", str(checkpoint), "--force", "<quiet>")
    assert code == 0 and sorted(p.name for p in checkpoint.iterdir()) == ["config.json", "io.safetensors",
                                                                          "model.safetensors", "pytorch_model.bin"]
    code, _, err = run(capsys, "convert", str(tmp_path))
    assert code == 2 and "no pytorch_model.bin" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"roformer-np {roformer_np.__version__}\n"


def test_info_reports_the_backend_it_uses(capsys, monkeypatch):
    code, out, _ = run(capsys, "info", "--backend", "numpy")
    assert code == 0 and "backend : numpy -> numpy" in out
    assert "self-check: numpy forward" in out and out.rstrip().endswith(": ok")
    monkeypatch.setenv("ROFORMER_NP_BACKEND", "numpy")
    code, from_env, _ = run(capsys, "info")
    assert code == 0 and "backend : numpy -> numpy" in from_env and "self-check: numpy forward" in from_env
    if roformer_np.native_available():
        code, out, _ = run(capsys, "info", "--backend", "native")  # the flag wins over the environment
        assert code == 0 and "backend : native -> native" in out and "self-check: native forward" in out


def test_messages_cite_only_shipped_documents():
    """No string in the package points at a document a user does not have (the spec, a sibling folder …)."""
    import ast
    import re

    package = Path(roformer_np.__file__).parent
    cited = re.compile(r"[\w./-]*\.md\b|ROFORMER_SPEC|\.\./shared|golden/")
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # docstrings are for developers reading the source tree (they may name golden/ generators)
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                for name in cited.findall(node.value):
                    assert (package / name).is_file(), f"{path.name}:{node.lineno} cites {name!r}"


# -- a real process ------------------------------------------------------------------------------
def test_python_dash_m_smoke(tmp_path, subprocess_env):
    env = subprocess_env
    model = GOLDEN / "cases" / "pipelines"
    ok = subprocess.run([sys.executable, "-m", "roformer_np", "fill-mask", "--model", str(model), "--json", "-q",
                         "-"], input="水在零度时会[MASK]\n", capture_output=True, text=True, env=env, timeout=120,
                        cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    (record,) = json_lines(ok.stdout)
    assert record["text"] == "水在零度时会[MASK]" and len(record["result"]) == 5
    bad = subprocess.run([sys.executable, "-m", "roformer_np", "fill-mask", "--model", str(model), "-q", "没有面具"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("roformer-np: error: fill-mask: no mask token")
