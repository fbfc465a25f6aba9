"""Reads one split of a served dataset version with pandas, polars and DuckDB straight
from its URL, and checks that each reader returns exactly the rows that pyarrow reads
from the downloaded bytes, whose sha256 must match the one the server publishes.

Usage: check_remote_readers.py VERSION_URL [SPLIT]

VERSION_URL is .../api/v1/datasets/{slug}/versions/{version}. Prints one JSON line:
{"split", "url", "size", "rows", "columns", "sha256", "readers": {name: {"via", "rows", ...}},
"skipped": {name: reason}}. Exits non-zero on the first mismatch.

- pandas_url: `pandas.read_parquet(URL)`: pandas opens http(s) URLs with urllib (one GET).
- pandas_fsspec: `pandas.read_parquet(URL, filesystem=fsspec HTTPFileSystem)`: range reads
  through aiohttp, with a column projection.
- polars_read / polars_scan: polars' own HTTP reader (range requests), eager and lazy
  (projection and a filter pushed into the scan).
- duckdb: `read_parquet('URL')` through the httpfs extension (range requests). DuckDB
  downloads httpfs at run time unless it is installed; the `duckdb-ext-httpfs` wheel
  ships it. Without it, DuckDB reads the downloaded (and verified) file instead and
  `via` says so.
"""

import base64
import hashlib
import io
import json
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests


def canonical(table: pa.Table) -> dict:
    """Column name -> numpy array, independent of how a reader typed the column:
    list-like columns become 2-D arrays, strings Python objects, the rest numpy scalars."""
    out = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        t = col.type
        if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
            values = col.flatten().to_numpy(zero_copy_only=False)
            out[name] = values.reshape(len(col), -1) if len(col) else values
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            out[name] = np.array(col.cast(pa.string()).to_pylist(), dtype=object)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def same(got: pa.Table, want: pa.Table, reader: str) -> None:
    assert got.num_rows == want.num_rows, f"{reader}: {got.num_rows} rows, want {want.num_rows}"
    assert got.column_names == want.column_names, (
        f"{reader}: columns {got.column_names}, want {want.column_names}"
    )
    g, w = canonical(got), canonical(want)
    for name in want.column_names:
        a, b = g[name], w[name]
        assert a.shape == b.shape, f"{reader}: column {name} shape {a.shape}, want {b.shape}"
        nan = a.dtype.kind == "f" and b.dtype.kind == "f"
        assert np.array_equal(a, b, equal_nan=nan), f"{reader}: column {name} differs"


def main() -> None:
    base = sys.argv[1].rstrip("/")
    split = sys.argv[2] if len(sys.argv) > 2 else "train"
    url = f"{base}/splits/{split}.parquet"

    # The published digest against the bytes served.
    whole = requests.get(url, timeout=300)
    whole.raise_for_status()
    data = whole.content
    digest = hashlib.sha256(data).hexdigest()
    assert whole.headers["x-content-sha256"] == digest, "x-content-sha256 != sha256(body)"
    assert whole.headers["etag"] == f'"{digest}"', "etag is not the sha256"
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    assert whole.headers["repr-digest"] == f"sha-256=:{b64}:", "repr-digest mismatch"
    assert int(whole.headers["content-length"]) == len(data)
    reference = pq.read_table(io.BytesIO(data))
    columns = reference.column_names
    # A projection that every split has: the id column plus the last column.
    projected = [columns[0], columns[-1]] if len(columns) > 1 else columns
    labelled = "is_anomaly" in columns

    readers, skipped = {}, {}

    # pandas
    try:
        import pandas as pd
    except ImportError as e:
        skipped["pandas"] = str(e)
    else:
        df = pd.read_parquet(url)
        same(pa.Table.from_pandas(df, preserve_index=False), reference, "pandas_url")
        readers["pandas_url"] = {"via": "url (pandas opens it with urllib)", "rows": len(df)}
        try:
            import fsspec
        except ImportError as e:
            skipped["pandas_fsspec"] = str(e)
        else:
            fs = fsspec.filesystem("http")
            df = pd.read_parquet(url, filesystem=fs, columns=projected)
            same(
                pa.Table.from_pandas(df, preserve_index=False),
                reference.select(projected),
                "pandas_fsspec",
            )
            readers["pandas_fsspec"] = {
                "via": "url (fsspec HTTPFileSystem, range reads)",
                "rows": len(df),
                "columns": projected,
            }

    # polars
    try:
        import polars as pl
    except ImportError as e:
        skipped["polars"] = str(e)
    else:
        df = pl.read_parquet(url)
        same(df.to_arrow(), reference, "polars_read")
        readers["polars_read"] = {"via": "url (polars HTTP reader)", "rows": df.height}
        lazy = pl.scan_parquet(url)
        df = lazy.select(projected).collect()
        same(df.to_arrow(), reference.select(projected), "polars_scan")
        entry = {"via": "url (polars scan, projection pushed down)", "rows": df.height}
        if labelled:
            anomalies = lazy.filter(pl.col("is_anomaly")).select(pl.len()).collect().item()
            want = int(pa.compute.sum(reference.column("is_anomaly").cast(pa.int64())).as_py() or 0)
            assert anomalies == want, f"polars_scan: {anomalies} anomalies, want {want}"
            entry["anomalies"] = anomalies
        readers["polars_scan"] = entry

    # DuckDB
    try:
        import duckdb
    except ImportError as e:
        skipped["duckdb"] = str(e)
    else:
        config = {"autoinstall_known_extensions": False}
        try:
            import duckdb_ext  # the duckdb-ext-httpfs wheel

            config["extension_directory"] = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
        except ImportError:
            pass
        con = duckdb.connect(config=config)
        try:
            con.execute("LOAD httpfs")
            httpfs, why = True, ""
        except duckdb.Error as e:
            httpfs, why = False, str(e).splitlines()[0]
        local = None
        if httpfs:
            source, via = url, "url (httpfs extension, range reads)"
        else:
            # The downloaded bytes, already verified against the published sha256.
            fd, local = tempfile.mkstemp(suffix=".parquet")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            source, via = local, f"downloaded file (no httpfs: {why})"
        try:
            got = con.execute("SELECT * FROM read_parquet(?)", [source]).fetch_arrow_table()
            same(got, reference, "duckdb")
            entry = {"via": via, "rows": got.num_rows}
            sql = "SELECT count(*), min({0}), max({0})".format(columns[0])
            if labelled:
                sql += ", count(*) FILTER (WHERE is_anomaly)"
            if httpfs:
                # Without DuckDB's file cache, the aggregate goes to the server again.
                con.execute("SET enable_external_file_cache = false")
                con.execute("CALL enable_logging('HTTP')")
            row = con.execute(sql + " FROM read_parquet(?)", [source]).fetchone()
            if httpfs:
                # The aggregate reads two columns: every GET must be a range, and
                # together they must fetch less than the whole file.
                gets = con.execute(
                    "SELECT request.headers, response.status, response.headers "
                    "FROM duckdb_logs_parsed('HTTP') WHERE request.type = 'GET'"
                ).fetchall()
                fetched = 0
                for request_headers, status, response_headers in gets:
                    assert "Range" in dict(request_headers), "duckdb: a GET without Range"
                    assert status == "PartialContent_206", f"duckdb: {status}"
                    fetched += int(dict(response_headers)["content-length"])
                assert gets and fetched < len(data), f"duckdb: {len(gets)} GETs, {fetched} bytes"
                entry["aggregate_range_gets"] = len(gets)
                entry["aggregate_fetched"] = fetched
            ids = reference.column(columns[0])
            assert row[0] == reference.num_rows, f"duckdb count(*) {row[0]}"
            assert row[1] == pa.compute.min(ids).as_py() and row[2] == pa.compute.max(ids).as_py()
            if labelled:
                assert row[3] == readers.get("polars_scan", {}).get("anomalies", row[3])
                entry["anomalies"] = row[3]
            readers["duckdb"] = entry
        finally:
            if local:
                os.unlink(local)

    print(
        json.dumps(
            {
                "split": split,
                "url": url,
                "size": len(data),
                "rows": reference.num_rows,
                "columns": columns,
                "sha256": digest,
                "readers": readers,
                "skipped": skipped,
            }
        )
    )


if __name__ == "__main__":
    main()
