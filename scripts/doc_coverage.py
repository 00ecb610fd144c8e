#!/usr/bin/env python3
"""Lists the public and open declarations in Sources/ that have no `///` documentation comment.

Usage: scripts/doc_coverage.py [--summary] [MODULE ...]
Exits 1 when any is undocumented (CI keeps every public symbol documented, for DocC).
Overrides are not listed: they are documented where first declared.
"""
import os
import re
import sys

DECL = re.compile(r'^\s*(?:@[\w().:, "]+\s+)*(?:(?:public|open)\s+)(?:(?:static|final|class|override|convenience|required|nonisolated|mutating|indirect|prefix|postfix|infix|private\(set\)|internal\(set\)|fileprivate\(set\))\s+)*'
                  r'(func|var|let|init|class|struct|enum|protocol|typealias|subscript|actor|case|init\?)\b')
ATTRIBUTE = re.compile(r'^\s*@[\w().:, "]+\s*$')


def undocumented(path):
    found = []
    with open(path, encoding='utf-8') as handle:
        lines = handle.read().split('\n')
    for index, line in enumerate(lines):
        if not DECL.match(line):
            continue
        if re.search(r'\boverride\b', line):
            continue  # documented where it is first declared
        previous = index - 1
        while previous >= 0 and ATTRIBUTE.match(lines[previous]):
            previous -= 1
        before = lines[previous].strip() if previous >= 0 else ''
        if before.startswith('///') or before.endswith('*/'):
            continue
        found.append((index + 1, line.strip()))
    return found


def main():
    arguments = [a for a in sys.argv[1:] if not a.startswith('--')]
    summary = '--summary' in sys.argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Sources')
    modules = arguments or sorted(m for m in os.listdir(root) if os.path.isdir(os.path.join(root, m)))
    total = 0
    for module in modules:
        count = 0
        for directory, _, files in sorted(os.walk(os.path.join(root, module))):
            for name in sorted(files):
                if not name.endswith('.swift'):
                    continue
                path = os.path.join(directory, name)
                for number, text in undocumented(path):
                    count += 1
                    if not summary:
                        print(f'{os.path.relpath(path, os.path.join(root, ".."))}:{number}: undocumented: {text}')
        if summary and count:
            print(f'{module}: {count}')
        total += count
    print(f'{total} undocumented public declarations')
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
