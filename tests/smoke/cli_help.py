#!/usr/bin/env python3
"""Checks that every flag of every command of our CLIs is explained in `--help`.

Usage: cli_help.py BIN_DIR. Runs `--help` on `federation`, `gateway` and `agency-node` and
on each of their subcommands (found in their own help), and fails on any option or
argument without a description. Standard library only."""
import re
import subprocess
import sys

bin_dir = sys.argv[1]
problems = []
checked = 0


def help_text(argv):
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        problems.append(f"{' '.join(argv)} --help exited {out.returncode}: {out.stderr}")
    return out.stdout


def sections(text):
    """Yields (section title, [lines]) for clap's `Title:` sections."""
    title, lines = None, []
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            if title:
                yield title, lines
            title, lines = line[:-1], []
        elif title:
            lines.append(line)
    if title:
        yield title, lines


def check(argv):
    global checked
    text = help_text(argv)
    subcommands = []
    for title, lines in sections(text):
        if title == "Commands":
            for line in lines:
                m = re.match(r"^  (\S+)\s*(.*)$", line)
                if m and m.group(1) != "help":
                    subcommands.append(m.group(1))
                    if not m.group(2):
                        problems.append(f"{' '.join(argv)}: command {m.group(1)} has no description")
            continue
        if title not in ("Options", "Arguments"):
            continue
        # Long help: an entry line (`  -x, --flag <V>` / `  <ARG>`) then its indented text.
        for i, line in enumerate(lines):
            m = re.match(r"^ {2,6}(?:-\w, )?(--[\w-]+|<[\w-]+>|\[[\w-]+\])", line)
            if not m:
                continue
            name = m.group(1)
            if name in ("--help", "--version"):
                continue
            checked += 1
            same_line = re.sub(r"^\s*(?:-\w, )?(--[\w-]+|<[\w-]+>|\[[\w-]+\])(\s+<[\w-]+>)?", "", line).strip()
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not following.startswith("          "):
                following = ""
            # clap prints `[default: …]` / `[env: …]` even for an undocumented flag.
            described = re.sub(r"\[(default|env|possible values): [^]]*\]", "", same_line + following).strip()
            if not described:
                problems.append(f"{' '.join(argv)}: {name} has no description")
    for sub in subcommands:
        check(argv + [sub])


for name in ("federation", "gateway", "agency-node"):
    check([f"{bin_dir}/{name}"])

print(f"{checked} flags explained" if not problems else "\n".join(problems))
print(f"{checked - len(problems)} passed, {len(problems)} failed")
sys.exit(1 if problems else 0)
