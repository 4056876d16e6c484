#!/usr/bin/python3
"""Writes a dataset's descriptors.csv from EDBO's DFT descriptor tables.

EDBO (github.com/b-shields/edbo, MIT; Shields et al., Nature 590, 89-96 (2021)) publishes DFT
descriptors of the reagents of the direct-arylation screen and of the Buchwald-Hartwig screen
(Ahneman et al., Science 360, 186-190 (2018)) as one wide CSV per component, with a SMILES column.
This script matches each categorical option of a dataset's spec.json to a row of such a table by
canonical SMILES (RDKit: Debian's python3-rdkit) and writes labloop's long format,
`parameter,option,descriptor,value`, keeping the columns that are finite numbers for every option
and vary between them. Only needed to regenerate the shipped files (their README.md says how).

usage: scripts/edbo-descriptors.py DATASET_DIR PARAMETER=TABLE.csv [PARAMETER=TABLE.csv ...] > descriptors.csv
       [--suffix-drop _MING,_MAXG,_MEAN,_STDEV]  drop columns ending so (conformer statistics
       other than the Boltzmann-weighted value)
"""
import argparse
import csv
import json
import math
import sys

from rdkit import Chem


def canonical(smiles):
    molecule = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(molecule) if molecule else None


def read_table(path, drop):
    rows = list(csv.reader(open(path, newline="")))
    header = rows[0]
    smiles = [i for i, name in enumerate(header) if name.endswith("SMILES")]
    if len(smiles) != 1:
        sys.exit(f"{path}: expected one column named *SMILES, found {len(smiles)}")
    keep = [i for i, name in enumerate(header) if i != smiles[0] and not any(name.endswith(s) for s in drop)]
    return {canonical(row[smiles[0]]): {header[i]: row[i] for i in keep} for row in rows[1:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("tables", nargs="+", metavar="PARAMETER=TABLE.csv")
    parser.add_argument("--suffix-drop", default="")
    args = parser.parse_args()
    drop = [s for s in args.suffix_drop.split(",") if s]
    spec = json.load(open(f"{args.dataset}/spec.json"))
    tables = dict(t.split("=", 1) for t in args.tables)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["parameter", "option", "descriptor", "value"])
    for parameter in spec["parameters"]:
        if parameter["name"] not in tables:
            continue
        table = read_table(tables[parameter["name"]], drop)
        rows = []
        for option in parameter["options"]:
            row = table.get(canonical(option))
            if row is None:
                sys.exit(f"{parameter['name']}: no row of {tables[parameter['name']]} for option {option}")
            rows.append(row)
        names = []
        for name in rows[0]:
            try:
                values = [float(row[name]) for row in rows]
            except ValueError:
                continue  # text: file names, stoichiometry, convergence flags
            if all(math.isfinite(v) for v in values) and len(set(values)) > 1:
                names.append(name)
        for option, row in zip(parameter["options"], rows):
            for name in names:
                out.writerow([parameter["name"], option, name, row[name]])
        print(f"{parameter['name']}: {len(parameter['options'])} options, {len(names)} descriptors", file=sys.stderr)


if __name__ == "__main__":
    main()
