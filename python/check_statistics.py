#!/usr/bin/env python3
"""Check the statistics the server publishes for a split against pyarrow's
compute functions on the very file it serves (issue 5, item 3).

Usage: check_statistics.py VERSION_URL SPLIT

For every column with numeric statistics: count, nulls, min, max, mean and
population std are recomputed with pyarrow.compute over all elements (tensor
columns are flattened), and histogram counts must add up to the non-NaN count.
Prints one JSON line with the number of columns and values compared; exits 1
on the first disagreement, naming the column and the figure.
"""

import io
import json
import math
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import requests


def close(a, b, tolerance=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


def elements(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks()
    while pa.types.is_fixed_size_list(array.type) or pa.types.is_list(array.type):
        array = array.flatten()
    return array


def main() -> int:
    version_url, split = sys.argv[1], sys.argv[2]
    published = requests.get(f"{version_url}/statistics", params={"split": split}, timeout=60).json()
    stats = published["splits"][0]["statistics"]
    table = pq.read_table(io.BytesIO(requests.get(f"{version_url}/splits/{split}.parquet", timeout=120).content))
    compared = 0
    for column in stats:
        if column.get("min") is None or column["name"] not in table.column_names:
            continue
        values = elements(table.column(column["name"]))
        if pa.types.is_boolean(values.type):
            values = pc.cast(values, pa.int8())
        if pa.types.is_floating(values.type):
            values = pc.filter(values, pc.invert(pc.is_nan(values)))
        numbers = pc.cast(values, pa.float64())
        expected = {
            "min": pc.min(numbers).as_py(),
            "max": pc.max(numbers).as_py(),
            "mean": pc.mean(numbers).as_py(),
            "std": pc.stddev(numbers, ddof=0).as_py(),
        }
        for figure, value in expected.items():
            compared += 1
            if not close(column.get(figure), value):
                print(f"{column['name']}: {figure} published {column.get(figure)} but pyarrow computes {value}")
                return 1
        count = len(values) + column.get("nans", 0)
        compared += 1
        if column["count"] != count:
            print(f"{column['name']}: count published {column['count']} but the file has {count}")
            return 1
        histogram = column.get("histogram")
        if histogram:
            compared += 1
            if sum(histogram["counts"]) != len(values):
                print(f"{column['name']}: histogram holds {sum(histogram['counts'])} of {len(values)} values")
                return 1
    if compared == 0:
        print("no numeric statistics to compare")
        return 1
    print(json.dumps({"split": split, "columns": len(stats), "values_compared": compared}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
