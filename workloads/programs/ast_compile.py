"""ast.parse + compile of standard-library sources: the parser's and compiler's many small
nodes, lists and strings. Which modules is fixed, so the work is the same from run to run on
one Python version."""

import ast
import os
import sysconfig

MODULES = ["argparse.py", "dataclasses.py", "textwrap.py", "json/decoder.py", "json/encoder.py",
           "configparser.py", "string.py", "fractions.py", "difflib.py", "ast.py"]
PASSES = 2


def main() -> None:
    stdlib = sysconfig.get_paths()["stdlib"]
    sources = []
    for name in MODULES:
        with open(os.path.join(stdlib, name), encoding="utf-8") as f:
            sources.append((name, f.read()))
    nodes = 0
    for _ in range(PASSES):
        for name, source in sources:
            tree = ast.parse(source, filename=name)
            nodes += sum(1 for _ in ast.walk(tree))
            compile(tree, name, "exec")
    print(f"ast_compile: {len(sources)} modules x {PASSES}, {nodes} nodes")


if __name__ == "__main__":
    main()
