"""Run a command with its stdin and stderr on a pseudo-terminal and answer
its prompts, as a person at a terminal would; for TestHashPasswordPrompt.

Usage: python3 pty_answer.py PROMPT ANSWER [PROMPT ANSWER ...] -- CMD [ARGS...]

For each pair it waits until PROMPT appears on the terminal, then until the
terminal's echo is off (a password prompt turns it off; text typed before
that would be echoed whatever the program does), and types ANSWER and
Enter. It prints one JSON object: "terminal" (everything the terminal
showed: prompts and any echo), "stdout", "code", and "echo_off" (for each
prompt, whether echo went off).
"""
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time

sep = sys.argv.index("--")
pairs, cmd = sys.argv[1:sep], sys.argv[sep + 1:]
master, slave = pty.openpty()
proc = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
seen = b""
echo_off = []


def read_some(timeout):
    global seen
    r, _, _ = select.select([master], [], [], timeout)
    if r:
        try:
            seen += os.read(master, 4096)
        except OSError:
            pass


for prompt, answer in zip(pairs[0::2], pairs[1::2]):
    deadline = time.monotonic() + 10
    start = len(seen)
    while prompt.encode() not in seen[start:] and time.monotonic() < deadline:
        read_some(0.05)
    off = False
    while time.monotonic() < deadline:
        if not termios.tcgetattr(slave)[3] & termios.ECHO:
            off = True
            break
        time.sleep(0.01)
    echo_off.append(off)
    os.write(master, answer.encode() + b"\n")

stdout, _ = proc.communicate(timeout=30)
read_some(0.2)
os.close(slave)
json.dump({"terminal": seen.decode(errors="replace"), "stdout": stdout.decode(errors="replace"),
           "code": proc.returncode, "echo_off": echo_off}, sys.stdout)
