#!/usr/bin/python3
"""Writes RDKit's 2-D descriptors of a dataset's categorical options that are SMILES.

General-purpose descriptors (rdkit.Chem.Descriptors.descList, about 200 per molecule) of the kind
a technician may bring to a campaign. labloop ships none made this way: decision 0016 measured how
a model copes when such a table misleads (dye_lasers' fragments: docs/decisions/0016). Kept are the
columns that are finite for every option and vary between them; a descriptor that fails to compute
for some option is left out. Long format, `parameter,option,descriptor,value`. Parameters with an
option that is not SMILES are skipped. Needs Debian's python3-rdkit.

usage: scripts/rdkit-descriptors.py DATASET_DIR > descriptors.csv
  e.g. mkdir -p /tmp/data && cp -r simulators/data/dye_lasers /tmp/data/ &&
       scripts/rdkit-descriptors.py simulators/data/dye_lasers > /tmp/data/dye_lasers/descriptors.csv &&
       LABLOOP_DATA_DIR=/tmp/data labloop bench --datasets dye_lasers --seeds 40 --jobs 2 --max 100
"""
import json
import math
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors


def value(function, molecule):
    try:
        return function(molecule)
    except Exception:  # some RDKit descriptors fail on some molecules (or on newer numpy)
        return None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    RDLogger.DisableLog("rdApp.*")
    spec = json.load(open(f"{sys.argv[1]}/spec.json"))
    print("parameter,option,descriptor,value")
    for parameter in spec["parameters"]:
        if parameter["type"] != "categorical":
            continue
        molecules = [Chem.MolFromSmiles(option) for option in parameter["options"]]
        if any(m is None for m in molecules):
            continue
        table = [{name: value(f, m) for name, f in Descriptors.descList} for m in molecules]
        names = [name for name, _ in Descriptors.descList
                 if all(isinstance(row[name], (int, float)) and math.isfinite(row[name]) for row in table)
                 and len({row[name] for row in table}) > 1]
        for option, row in zip(parameter["options"], table):
            for name in names:
                print(f"{parameter['name']},{option},{parameter['name']}_{name},{float(row[name])!r}")


if __name__ == "__main__":
    main()
