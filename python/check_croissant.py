#!/usr/bin/env python3
"""Validate a Croissant JSON-LD document with mlcroissant and load its records.

Usage: check_croissant.py JSONLD [--records N] [--allow-warnings]

JSONLD is a local path or an http(s) URL. FileObjects whose contentUrl is a
file:// URL are mapped to the local file, so documents written by the Rust tests
(or served by a local server) can be loaded without network access.

Exit status: 0 when there are no errors (and no warnings unless --allow-warnings)
and every record set yields records; 1 otherwise. The last stdout line is a JSON
summary: {"errors": [...], "warnings": [...], "record_sets": {id: records_read}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path


def load_json(source: str) -> dict:
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"Accept": "application/ld+json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode("utf-8"))
    return json.loads(Path(source).read_text(encoding="utf-8"))


def local_mapping(doc: dict) -> dict[str, str]:
    """Map FileObject ids with file:// contentUrls to local paths."""
    mapping = {}
    for node in doc.get("distribution", []):
        url = node.get("contentUrl", "")
        if isinstance(url, str) and url.startswith("file://"):
            path = urllib.parse.unquote(urllib.parse.urlparse(url).path)
            mapping[node["@id"]] = path
    return mapping


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonld")
    parser.add_argument("--records", type=int, default=5, help="records to read per record set (0 = all)")
    parser.add_argument("--allow-warnings", action="store_true")
    args = parser.parse_args()

    import mlcroissant as mlc  # imported late so --help works without it

    summary: dict = {"errors": [], "warnings": [], "record_sets": {}}
    doc = load_json(args.jsonld)
    try:
        ds = mlc.Dataset(jsonld=doc, mapping=local_mapping(doc))
    except mlc.ValidationError as exc:
        summary["errors"].append(str(exc))
        print(json.dumps(summary))
        return 1
    issues = ds.metadata.ctx.issues
    summary["errors"] = sorted(str(e) for e in issues.errors)
    summary["warnings"] = sorted(str(w) for w in issues.warnings)

    ok = not summary["errors"] and (args.allow_warnings or not summary["warnings"])
    for record_set in ds.metadata.record_sets:
        rs_id = record_set.uuid
        count = 0
        try:
            for record in ds.records(record_set=rs_id):
                if count == 0:
                    keys = ", ".join(sorted(record.keys()))
                    print(f"{rs_id}: fields {keys}", file=sys.stderr)
                count += 1
                if args.records and count >= args.records:
                    break
        except Exception as exc:  # report every failure, keep checking the others
            summary["errors"].append(f"{rs_id}: {type(exc).__name__}: {exc}")
            ok = False
        summary["record_sets"][rs_id] = count
        if count == 0:
            summary["errors"].append(f"{rs_id}: no records")
            ok = False
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
