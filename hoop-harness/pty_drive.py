"""Drives a command on a real pty like a person at a terminal would.

Usage: pty_drive.py SCRIPT -- argv...
SCRIPT lines: `size ROWS COLS` (resize the terminal), `send TEXT` (type TEXT, `\r` escapes
allowed), `expect TEXT` (wait up to 10 s until TEXT has appeared in the output since the last
expect). Everything the command wrote to the terminal is copied to stdout, byte for byte.
"""
import fcntl, os, pty, select, struct, sys, termios, time

split = sys.argv.index("--")
script, argv = open(sys.argv[1]).read().splitlines(), sys.argv[split + 1:]


def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    winsize(0, 24, 80)
    os.execvp(argv[0], argv)

out, seen = bytearray(), 0


def pump(timeout):
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    out.extend(chunk)
    return bool(chunk)


for line in script:
    op, _, arg = line.partition(" ")
    if op == "size":
        rows, cols = map(int, arg.split())
        # The kernel signals SIGWINCH to the terminal's foreground process, as for a real resize.
        winsize(fd, rows, cols)
    elif op == "send":
        os.write(fd, arg.encode().decode("unicode_escape").encode())
    elif op == "expect":
        deadline = time.time() + 10
        while arg.encode() not in out[seen:] and time.time() < deadline:
            if not pump(0.1):
                break
        at = out.find(arg.encode(), seen)
        if at < 0:
            sys.stderr.write(f"expect {arg!r} timed out; got {bytes(out)!r}\n")
            sys.exit(2)
        seen = at + len(arg)
deadline = time.time() + 10
while time.time() < deadline and pump(0.2):
    pass
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
