"""`python -m submission`, paused inside the write of its first model answer (for the SIGKILL test in
tests/test_submission.py).

    python -m tests.kill_in_write NOTE {atomic,in-place} ENTRY_ARGS...

writer.write_atomic serialises with json.dump; here the writer module's json.dump is replaced by one
that writes the first half of the very same bytes, flushes them to the file being written, leaves a
note (NOTE: the object on disk before this write, the one being written, the file written to) and
waits to be killed. Writes whose object equals the previous one's (the fallbacks, written first) go
through unchanged, so the pause is in the first write that carries a model answer. With `in-place`
the writer is also swapped for one that writes the submission file directly (open, dump, close): the
control, which a kill at the same point must leave broken, so the test knows its kill lands inside a
write. Nothing of the kit is changed on disk; the entry runs in this process (runpy).
"""
import json
import os
import runpy
import sys
import time

from submission import writer


def main():
    note, mode, entry_args = sys.argv[1], sys.argv[2], sys.argv[3:]
    real_json = json
    previous = []  # the last object written whole

    class PausingJson:
        """json for writer.py: dump pauses half way through the first write of a new object."""

        def __getattr__(self, name):
            return getattr(real_json, name)

        def dump(self, obj, f, **kw):
            text = real_json.dumps(obj, **kw)
            if not previous or obj == previous[-1]:
                f.write(text)
                previous[:] = [real_json.loads(text)]  # a copy: the caller may change obj later
                return
            f.write(text[:len(text) // 2])
            f.flush()
            os.fsync(f.fileno())
            tmp = note + ".tmp"
            with open(tmp, "w") as n:
                real_json.dump({"old": previous[-1], "new": obj, "file": os.path.abspath(f.name)}, n)
            os.replace(tmp, note)
            while True:  # the test kills the process here
                time.sleep(1)

    writer.json = PausingJson()
    if mode == "in-place":
        def write_in_place(obj, path):
            with open(path, "w", encoding="utf-8") as f:
                writer.json.dump(obj, f, separators=(",", ":"))
        writer.write_atomic = write_in_place
    elif mode != "atomic":
        sys.exit(f"mode must be atomic or in-place, got {mode!r}")
    sys.argv = ["submission", *entry_args]
    runpy.run_module("submission", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
