#!/usr/bin/env python3
"""Validate capability files against the upstream Ikanos JSON schema (draft 2020-12).

Usage: validate_schema.py SCHEMA FILE...
Prints each violation as `FILE: PATH: message` and exits 1 when there is one. Used by
tests/e2e/mcp.rs to keep the MCP examples valid for upstream tools.
"""

import json
import sys

import jsonschema
import yaml


def main():
    with open(sys.argv[1]) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    bad = 0
    for name in sys.argv[2:]:
        with open(name) as f:
            doc = yaml.safe_load(f)
        for e in validator.iter_errors(doc):
            bad += 1
            # oneOf/anyOf failures: jsonschema's pick of the most relevant sub-error.
            e = jsonschema.exceptions.best_match(e.context) if e.context else e
            print(f"{name}: {e.json_path}: {e.message[:300]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
