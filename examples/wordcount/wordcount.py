#!/usr/bin/env python3
"""Word count in two steps, for batchdeck's word-count example (Python 3 standard library only).

  wordcount.py count INPUT COUNTS     counts the words of INPUT, writes "word<TAB>count" lines
  wordcount.py total DIR N OUTPUT     adds up every DIR/*.counts, writes the N most frequent
                                      words over all of them, one "word count" per line

A word is a run of letters and digits, with apostrophes inside it (don't, river's), lowercased.
Ties are in alphabetical order. Files are written to a temporary name, then renamed.
"""

import collections
import os
import re
import sys

WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def write(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, path)


def count(src, dest):
    counts = collections.Counter()
    with open(src, encoding="utf-8") as f:
        for line in f:
            counts.update(WORD.findall(line.lower()))
    write(dest, [f"{w}\t{n}" for w, n in sorted(counts.items())])
    print(f"{src}: {sum(counts.values())} words, {len(counts)} distinct -> {dest}")


def total(folder, n, dest):
    counts = collections.Counter()
    parts = sorted(p for p in os.listdir(folder) if p.endswith(".counts"))
    if not parts:
        sys.exit(f"wordcount: no .counts files in {folder}")
    for name in parts:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for line in f:
                word, _, c = line.rstrip("\n").partition("\t")
                counts[word] += int(c)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    write(dest, [f"{w} {c}" for w, c in top])
    print(f"merged {len(parts)} counts ({sum(counts.values())} words) -> {dest}")


def main(argv):
    if len(argv) == 3 and argv[0] == "count":
        count(argv[1], argv[2])
    elif len(argv) == 4 and argv[0] == "total":
        total(argv[1], int(argv[2]), argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
