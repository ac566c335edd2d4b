"""Prints one line per integration test case, `test_file.py:case`, for meson.

Usage: list_cases.py TEST_FILE...   A case is a top-level `def test_<case>():`. The files
are parsed, not imported, so listing starts no servers and needs no rwith.
"""

import ast
import os
import sys


def cases(path):
    with open(path, "r", encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            yield node.name[len("test_"):]


def main():
    paths = sys.argv[1:]
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        paths = sorted(os.path.join(here, n) for n in os.listdir(here)
                       if n.startswith("test_") and n.endswith(".py"))
    for path in paths:
        for case in cases(path):
            print(f"{os.path.basename(path)}:{case}")


if __name__ == "__main__":
    main()
