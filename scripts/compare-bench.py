#!/usr/bin/python3
"""Compares the real suite's runs of `labloop bench`, seed by seed.

Each argument is an output directory of `labloop bench --suite real` (its real.csv), optionally
followed by `:PLANNER` to pick one planner of that run (as real.csv's planner column writes it,
e.g. `runs/b12:{"beta":12,"kind":"bayesian"}`); without it, every planner of the run except
random search is a column. The first column is the baseline. Per lookup table and column: the
median experiments to the first top-1 % row, the geometric mean over seeds, and, against the
baseline, on how many seeds the column needed fewer / more experiments (paired by seed). All of a
table's figures are over the seeds every column that ran it ran, so that a run stopped early
(Ctrl-C keeps the seeds every planner finished) is compared on its seeds only; a line under the
table names each table where that left seeds out. The last line is the geometric mean over the tables every column ran of each
table's geometric mean over seeds. Runs are comparable only when made with the same --seeds,
--max and --subset (each seed draws the same initial rows and subset for every planner).

usage: scripts/compare-bench.py BASELINE_DIR[:PLANNER] OTHER_DIR[:PLANNER]...
(a directory is named up to its first colon, so its name cannot hold one)
Standard library only; stdout is a plain-text table.
"""
import csv
import math
import statistics
import sys


def load(argument):
    """{column name: {dataset: {seed: experiments to the top 1 %}}} of one argument."""
    directory, _, wanted = argument.partition(":")
    columns = {}
    name = f"{directory}/real.csv"
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark, which would be part of
        # the first column's name. surrogateescape: labloop writes a dataset folder's name as its bytes,
        # which need not be UTF-8; they pass through to the table as they are.
        f = open(name, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as e:
        sys.exit(f"compare-bench: cannot read {name}: {e.strerror}")
    with f:
        reader = csv.DictReader(f)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, OSError) as e:
                sys.exit(f"compare-bench: {name} line {reader.line_num}: {e}")
            try:
                if row["kind"] != "lookup_table" or row["to_top"] == "":
                    continue
                planner = row["planner"]
                if (wanted and planner != wanted) or (not wanted and planner == "random"):
                    continue
                seed, to_top = int(row["seed"]), int(row["to_top"])
            except (KeyError, TypeError, ValueError):
                sys.exit(f"compare-bench: {name} line {reader.line_num}: not a row of labloop bench's real.csv")
            if to_top < 1:
                # Experiments until the first top-1 % row count the first experiment: at least 1 (and a
                # geometric mean has no logarithm of 0).
                sys.exit(f"compare-bench: {name} line {reader.line_num}: to_top {to_top} is not a count of experiments (1 or more)")
            columns.setdefault(f"{directory}:{planner}", {}).setdefault(row["dataset"], {})[seed] = to_top
    if not columns:
        sys.exit(f"compare-bench: {argument}: no lookup-table rows" + (f" for planner {wanted}" if wanted else " of a planner other than random"))
    return columns


def geometric_mean(values):
    return math.exp(statistics.mean(math.log(v) for v in values))


def compare(columns):
    """Rows of (dataset, [(median, geometric mean, better, worse) per column]), the summary line, and
    the notes on tables whose columns ran different seeds."""
    names = list(columns)
    base = columns[names[0]]
    datasets = sorted({d for c in columns.values() for d in c})
    rows, per_column, notes = [], {n: [] for n in names}, []
    for dataset in datasets:
        ran = [set(c[dataset]) for c in columns.values() if dataset in c]
        common = sorted(set.intersection(*ran))
        if any(len(r) > len(common) for r in ran):
            notes.append(f"{dataset}: over the {len(common)} seeds every column ran (the columns ran {', '.join(str(len(r)) for r in ran)})")
        cells = []
        for name in names:
            runs = columns[name].get(dataset)
            if runs is None or not common:
                cells.append(None)
                continue
            values = [runs[s] for s in common]
            # No baseline runs of this table: nothing to count better or worse against (None, shown "-").
            better = worse = None
            if dataset in base:
                better = sum(runs[s] < base[dataset][s] for s in common)
                worse = sum(runs[s] > base[dataset][s] for s in common)
            cells.append((statistics.median(values), geometric_mean(values), better, worse))
        rows.append((dataset, cells))
        if all(c is not None for c in cells):
            for name, cell in zip(names, cells):
                per_column[name].append(math.log(cell[1]))
    summary = [math.exp(statistics.mean(v)) if v else None for v in per_column.values()]
    return names, rows, summary, notes


def main():
    # Dataset names read with surrogateescape are written back as the bytes they were (on a UTF-8
    # stdout), elsewhere escaped, instead of a UnicodeEncodeError.
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    sys.stdout.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    columns = {}
    for argument in sys.argv[1:]:
        for name, data in load(argument).items():
            if name in columns:
                sys.exit(f"compare-bench: column {name} given twice")
            columns[name] = data
    names, rows, summary, notes = compare(columns)
    for k, name in enumerate(names):
        print(f"[{k}] {name}" + (" (baseline)" if k == 0 else ""))
    print("median experiments to the top 1 % / geometric mean over seeds / seeds better:worse than [0]")
    print(f"{'table':<24}" + "".join(f"{f'[{k}]':>22}" for k in range(len(names))))
    for dataset, cells in rows:
        line = f"{dataset:<24}"
        for cell in cells:
            if cell is None:
                line += f"{'-':>22}"
            else:
                counts = f"{'-':>4}{'':3}" if cell[2] is None else f"{cell[2]:>3}:{cell[3]:<3}"
                line += f"{cell[0]:>8.1f} {cell[1]:6.2f} {counts}"
        print(line)
    print(f"{'geometric mean':<24}" + "".join(f"{'-':>22}" if g is None else f"{g:>15.2f}{'':7}" for g in summary))
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
