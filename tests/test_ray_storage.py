"""Ray Data writes the betas schema to (moto) S3 via ``arrow_filesystem``; re-runs overwrite, not append."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from test_schemas import assert_rows_equal, betas_row

from storage import (
    BETAS_SCHEMA,
    arrow_filesystem,
    from_table,
    list_uris,
    read_table,
    to_table,
    validate_betas_table,
)


def _write_run(ray, rows: list[dict], uri: str) -> None:
    """One job run: two input blocks -> drop clips without frames -> Parquet, replacing earlier runs."""
    fs, path = arrow_filesystem(uri)
    blocks = [to_table(rows[: len(rows) // 2], BETAS_SCHEMA), to_table(rows[len(rows) // 2 :], BETAS_SCHEMA)]
    ds = ray.data.from_arrow(blocks).map_batches(
        lambda batch: batch.filter(pc.greater(batch["n_frames"], 0)), batch_format="pyarrow", batch_size=None
    )
    ds.write_parquet(path, filesystem=fs, mode=ray.data.SaveMode.OVERWRITE)


@pytest.mark.timeout(120)
def test_ray_data_betas_overwrite_on_s3(ray_session, s3_bucket):
    ray = ray_session
    rng = np.random.default_rng(7)
    uri = f"s3://{s3_bucket}/features/betas"
    first = [betas_row(rng, f"crema-d/run1-{i}", n) for i, n in enumerate([3, 0, 5, 2])]
    second = [betas_row(rng, f"crema-d/run2-{i}", n) for i, n in enumerate([4, 6, 0, 1])]

    _write_run(ray, first, uri)
    _write_run(ray, second, uri)

    expected = sorted((r for r in second if r["n_frames"] > 0), key=lambda r: r["clip_id"])
    files = list_uris(uri)
    assert files and all(f.endswith(".parquet") for f in files)
    fs, path = arrow_filesystem(uri)
    ds = ray.data.read_parquet(path, filesystem=fs)
    table = pa.concat_tables(ray.get(ds.to_arrow_refs())).select(BETAS_SCHEMA.names)
    validate_betas_table(table)
    assert table.num_rows == len(expected)  # no rows from the first run, no duplicates
    table = table.sort_by("clip_id")
    assert_rows_equal(from_table(table), expected, BETAS_SCHEMA)
    direct = read_table(uri, schema=BETAS_SCHEMA).sort_by("clip_id")
    assert direct["clip_id"].to_pylist() == [r["clip_id"] for r in expected]
