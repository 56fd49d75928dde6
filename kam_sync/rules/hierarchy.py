"""The account hierarchy: which group (top-most ancestor) each account belongs to.

CRM data is not always a tree: a parent may be missing (deleted, out of scope) or accounts may
point at each other in a cycle. A missing parent makes the account a root; a cycle becomes one
group named after its smallest id. The walk is pointer doubling over whole columns, so it costs
O(n log depth), never a Python loop over rows.
"""

from __future__ import annotations

import math

import polars as pl


def group_ids(accounts: pl.DataFrame) -> pl.DataFrame:
    """``id, group_id`` for every distinct ``id`` of ``accounts`` (columns id, parent_id)."""
    nodes = (
        accounts.select("id", "parent_id").unique("id", keep="first").sort("id").with_row_index("i")
    )
    index = nodes.select(pl.col("id").alias("parent_id"), pl.col("i").alias("p"))
    parent = nodes.join(index, on="parent_id", how="left", maintain_order="left").select(
        pl.coalesce("p", "i").alias("p"), "i"
    )
    p = parent["p"]
    jump = p
    # low: the smallest index seen on the path so far, which names a cycle's group.
    low = parent.select(pl.min_horizontal("i", "p"))["i"]
    for _ in range(math.ceil(math.log2(len(nodes) + 1)) + 1):
        low = pl.select(pl.min_horizontal(low, low.gather(jump))).to_series()
        jump = jump.gather(jump)
    at_root = p.gather(jump) == jump
    group = pl.select(
        pl.when(at_root).then(jump).otherwise(low.gather(jump)).alias("g")
    ).to_series()
    return pl.DataFrame({"id": nodes["id"], "group_id": nodes["id"].gather(group)})
