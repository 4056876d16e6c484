#!/usr/bin/python3
"""Writes a dataset's descriptors.csv for categorical parameters whose options are numbers.

Some tables list amounts as categories (lnp3's drug_input: "6", "12", "24", "48"). Seen one-hot,
the model learns nothing about 24 from 12 and 48; described by their own value, it sees their
order and distances, as it does for a `discrete` parameter. This script writes labloop's long
format, `parameter,option,descriptor,value`, with one descriptor per such parameter: the option's
value, named after the parameter. Parameters with any non-numeric option are left out (they stay
one-hot). Only needed to regenerate the shipped files (their README.md says how).

usage: scripts/numeric-option-descriptors.py DATASET_DIR > descriptors.csv
"""
import json
import math
import sys


def number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    spec = json.load(open(f"{sys.argv[1]}/spec.json"))
    described = 0
    print("parameter,option,descriptor,value")
    for parameter in spec["parameters"]:
        if parameter["type"] != "categorical":
            continue
        values = [number(option) for option in parameter["options"]]
        if any(value is None for value in values) or len(set(values)) < 2:
            continue
        described += 1
        for option, value in zip(parameter["options"], values):
            print(f"{parameter['name']},{option},{parameter['name']},{option}")
    if not described:
        sys.exit(f"{sys.argv[1]}: no categorical parameter has only numeric options")


if __name__ == "__main__":
    main()
