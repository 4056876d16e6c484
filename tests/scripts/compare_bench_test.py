#!/usr/bin/python3
"""scripts/compare-bench.py on two small real.csv files whose figures are worked out by hand."""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "compare-bench.py")
spec = importlib.util.spec_from_file_location("compare_bench", SCRIPT)
compare_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_bench)

HEADER = "dataset,kind,planner,seed,pool,top_rows,to_top,to_best,experiments,regret,refused,reference,median_ask_ms\n"


def write_run(directory, rows):
    os.makedirs(directory)
    with open(os.path.join(directory, "real.csv"), "w") as f:
        f.write(HEADER)
        for dataset, planner, seed, to_top in rows:
            f.write(f'{dataset},lookup_table,"{planner}",{seed},100,1,{to_top},{to_top},{to_top},,,,0.1\n')
        # An emulated row: no experiments-to-top figure, never compared.
        f.write('suzuki,emulated,"bayesian",1,,,,,50,0.5,,1,0.1\n')


class CompareBench(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.a = os.path.join(self.tmp.name, "a")
        self.b = os.path.join(self.tmp.name, "b")
        write_run(self.a, [("t1", "random", 1, 50), ("t1", "bayesian", 1, 4), ("t1", "bayesian", 2, 16), ("t1", "bayesian", 3, 9),
                           ("t2", "bayesian", 1, 10), ("t2", "bayesian", 2, 10)])
        # b: two planners, the JSON one quoted as labloop writes it; t1 seed 3 missing; no t2 for one planner.
        write_run(self.b, [("t1", "bayesian", 1, 2), ("t1", "bayesian", 2, 16), ("t2", "bayesian", 1, 20), ("t2", "bayesian", 2, 5),
                           ("t1", '{""beta"":6}', 1, 8), ("t1", '{""beta"":6}', 2, 8)])

    def tearDown(self):
        self.tmp.cleanup()

    def test_figures(self):
        columns = {}
        for argument in (self.a, self.b):
            columns.update(compare_bench.load(argument))
        self.assertEqual(list(columns), [f"{self.a}:bayesian", f"{self.b}:bayesian", f'{self.b}:{{"beta":6}}'])
        names, rows, summary, notes = compare_bench.compare(columns)
        t1, t2 = dict(rows)["t1"], dict(rows)["t2"]
        # b ran t1 with seeds 1 and 2 only: every column's t1 figures are over those two.
        self.assertEqual(notes, ["t1: over the 2 seeds every column ran (the columns ran 3, 2, 2)"])
        # Baseline t1 on seeds 1, 2: 4, 16 → median 10, geometric mean √64 = 8.
        self.assertEqual(t1[0][0], 10)
        self.assertAlmostEqual(t1[0][1], 8.0)
        self.assertEqual(t1[0][2:], (0, 0))
        # b's bayesian on t1: 2, 16 → median 9, geometric mean √32; one better (seed 1), none worse.
        self.assertEqual(t1[1][0], 9)
        self.assertAlmostEqual(t1[1][1], 32 ** 0.5)
        self.assertEqual(t1[1][2:], (1, 0))
        # β = 6 on t1: 8, 8 → better on seed 2 (8 < 16), worse on seed 1 (8 > 4).
        self.assertEqual(t1[2][0], 8)
        self.assertAlmostEqual(t1[2][1], 8.0)
        self.assertEqual(t1[2][2:], (1, 1))
        # t2: 20 and 5 against 10 and 10: one each way, the same geometric mean; the β = 6 column never ran it.
        self.assertAlmostEqual(t2[1][1], 10.0)
        self.assertEqual(t2[1][2:], (1, 1))
        self.assertIsNone(t2[2])
        # The summary covers the tables every column ran: t1 alone.
        self.assertAlmostEqual(summary[0], 8.0)
        self.assertAlmostEqual(summary[2], 8.0)

    def test_command_line(self):
        out = subprocess.run([sys.executable, SCRIPT, self.a, f'{self.b}:{{"beta":6}}'], capture_output=True, text=True, check=True).stdout
        self.assertIn("(baseline)", out)
        self.assertRegex(out, r"t1\s+10\.0\s+8\.00\s+0:0\s+8\.0\s+8\.00\s+1:1")
        self.assertIn("note: t1: over the 2 seeds every column ran (the columns ran 3, 2)", out)
        bad = subprocess.run([sys.executable, SCRIPT, f"{self.a}:nope"], capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no lookup-table rows for planner nope", bad.stderr)
        missing = subprocess.run([sys.executable, SCRIPT, os.path.join(self.tmp.name, "none")], capture_output=True, text=True)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("cannot read", missing.stderr)
        self.assertNotIn("Traceback", missing.stderr)
        garbled = os.path.join(self.tmp.name, "garbled")
        os.makedirs(garbled)
        with open(os.path.join(garbled, "real.csv"), "w") as f:
            f.write(HEADER + "t1,lookup_table,bayesian,one,100,1,4,4,4,,,,0.1\n")
        bad_row = subprocess.run([sys.executable, SCRIPT, garbled], capture_output=True, text=True)
        self.assertNotEqual(bad_row.returncode, 0)
        self.assertIn("real.csv line 2: not a row of labloop bench's real.csv", bad_row.stderr)
        self.assertNotIn("Traceback", bad_row.stderr)

    def test_awkward_files(self):
        # (a) a dataset folder whose name is not UTF-8 (labloop writes its bytes as they are),
        # (b) a real.csv re-saved with a byte-order mark: compared as any other.
        odd = os.path.join(self.tmp.name, "odd")
        os.makedirs(odd)
        with open(os.path.join(odd, "real.csv"), "wb") as f:
            f.write(("\ufeff" + HEADER).encode())
            f.write(b't1,lookup_table,"bayesian",1,100,1,6,6,6,,,,0.1\n')
            f.write(b'perov\xe9,lookup_table,"bayesian",1,100,1,3,3,3,,,,0.1\n')
        run = subprocess.run([sys.executable, SCRIPT, self.a, odd], capture_output=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn(b"Traceback", run.stderr)
        self.assertRegex(run.stdout, rb"t1\s+4\.0\s+4\.00\s+0:0\s+6\.0\s+6\.00\s+0:1")  # over seed 1, the one both ran
        # (c) The baseline never ran perov\xe9: its column is "-", and the other's better:worse too, not 0:0.
        self.assertRegex(run.stdout, rb"perov\xe9\s+-\s+3\.0\s+3\.00\s+-\s*\n")
        # (d) A to_top of 0 (no run needs fewer than one experiment): named by file and line.
        zero = os.path.join(self.tmp.name, "zero")
        write_run(zero, [("t1", "bayesian", 1, 4), ("t1", "bayesian", 2, 0)])
        bad = subprocess.run([sys.executable, SCRIPT, zero], capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertNotIn("Traceback", bad.stderr)
        self.assertIn(f"compare-bench: {zero}/real.csv line 3: to_top 0 is not a count of experiments (1 or more)", bad.stderr)


if __name__ == "__main__":
    unittest.main()
