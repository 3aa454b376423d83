#!/usr/bin/env python3
"""Counts the top N words of a text file and writes <name>_OUTPUT.txt.

Runs on Batch compute nodes (Azure or batchdeck's local nodes); Python 3 standard library only.
The output names the node, task, job and pool it ran on (from the AZ_BATCH_* environment),
then one "word count" line per word, most frequent first, ties in alphabetical order.
Uploading the output is left to the service (the task's outputFiles), so no credential is
ever passed on the command line.
"""

import argparse
import collections
import os
import re
import sys

WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def count_words(lines, counts):
    """Adds the words of each line to counts (memory grows with the vocabulary, not the file)."""
    for line in lines:
        counts.update(WORD.findall(line.lower()))
    return counts


def top(counts, n):
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def utf8_lines(f, path):
    """The lines of a binary file as text; exits naming the byte offset of bad UTF-8."""
    offset = 0
    for raw in f:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            sys.exit(f"topwords: {path} is not UTF-8 text ({e.reason} at byte {offset + e.start})")
        offset += len(raw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filepath", required=True, help="input text file (UTF-8)")
    parser.add_argument("--numwords", type=int, default=3, help="how many words to report")
    parser.add_argument("--output", help="output file (default: <name>_OUTPUT.txt)")
    args = parser.parse_args(argv)
    if args.numwords < 1:
        parser.error("--numwords must be at least 1")

    try:
        with open(args.filepath, "rb") as f:
            counts = count_words(utf8_lines(f, args.filepath), collections.Counter())
    except OSError as e:
        sys.exit(f"topwords: cannot read {args.filepath}: {e.strerror}")

    stem = os.path.splitext(os.path.basename(args.filepath))[0]
    output = args.output or f"{stem}_OUTPUT.txt"
    env = os.environ.get
    lines = [
        f"node {env('AZ_BATCH_NODE_ID', '-')}",
        f"task {env('AZ_BATCH_TASK_ID', '-')}",
        f"job {env('AZ_BATCH_JOB_ID', '-')}",
        f"pool {env('AZ_BATCH_POOL_ID', '-')}",
    ]
    lines += [f"{word} {count}" for word, count in top(counts, args.numwords)]
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, output)
    print(f"wrote {output}: top {args.numwords} words of {args.filepath}")


if __name__ == "__main__":
    main()
