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
    monkeypatch.setattr(sys, "stdin", io.StringIO("今天[MASK]\n\n北京[MASK]\n"))
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
    binary.write_bytes(b"\xff\xfe\x00bad")
    code, _, err = run(capsys, "classify", "-i", str(binary))
    assert code == 2 and "not UTF-8" in err
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


def test_info(capsys):
    code, out, _ = run(capsys, "info", "--backend", "numpy")
    assert code == 0 and "self-check" in out and "ok" in out


# -- a real process ------------------------------------------------------------------------------
def test_python_dash_m_smoke(tmp_path):
    # the subprocess must import the same roformer_np as this test run (installed or source tree); it runs in
    # an empty directory because ``python -m`` puts the working directory first on sys.path
    package_root = str(Path(roformer_np.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
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
