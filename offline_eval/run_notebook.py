"""Execute a notebook headlessly (nbclient) in the current directory, printing its cell outputs.

Used by `simulate --notebook`: the environment (TRM_KAGGLE_INPUT, TRM_KAGGLE_WORKING,
TRM_TIME_LIMIT, TRM_MARGIN, TRM_ENTRY_ARGS, KAGGLE_IS_COMPETITION_RERUN) reaches the kernel, so the
notebook runs unedited: TRM_ENTRY_ARGS carries the flags of a sweep row or --entry-args.
"""
import argparse
import os
import sys


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m offline_eval.run_notebook")
    p.add_argument("notebook")
    args = p.parse_args()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}})
    code = 0
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"notebook failed: {str(e).splitlines()[0]}", file=sys.stderr)
        code = 1
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                sys.stdout.write(o.get("text", ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
