"""The parameter table of a PEtab-SciML problem with network rows expanded to one row per weight.

A PEtab-SciML parameter table gives network parameters by whole network, layer, array or
element (`net1_ps`, `net1_layer1`, ...; resolved through the mapping table), with `array` as
nominal value meaning "from the array file". Each network element here gets its own row, named
as in `HybridSbmlModel.constant_ids` (`net1.parameters[layer1].weight[0, 1]`), with

    nominalValue            the resolved nominal value (array file, overridden by numbers)
    estimate                false where the most specific covering row says false
    every other column      copied from the most specific covering row (bounds, scale, priors)

so a PEtab objective that knows only scalar parameters handles network weights like any other
parameter (priors broadcast element-wise, frozen layers become fixed parameters).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .hybrid_model import ParameterBlock, element_ids
from .problem_files import SciMLProblemFiles


def expand_parameter_table(
    table: pd.DataFrame, files: SciMLProblemFiles, blocks: Iterable[ParameterBlock]
) -> pd.DataFrame:
    """`table` with its network rows replaced by one row per network parameter element."""
    ids = table["parameterId"].astype(str).str.strip()
    is_nn = ids.isin(files.parameter_ids)
    keep = table[~is_nn.to_numpy()]
    nn_rows = [
        (files.mapping[pid], row)
        for pid, (_, row) in zip(ids[is_nn], table[is_nn].iterrows(), strict=True)
    ]
    nn_rows.sort(key=lambda r: r[0].specificity)
    new_rows = []
    for block in blocks:
        # index of the most specific covering row, per element
        source = np.full(block.shape, -1, dtype=int)
        for k, (entity, _) in enumerate(nn_rows):
            if entity.net_id != block.net_id:
                continue
            if entity.layer not in (None, block.layer_id) or entity.array not in (None, block.name):
                continue
            source[(...,) if entity.index is None else entity.index] = k
        nominal = np.asarray(
            files.networks[block.net_id].parameters()[block.layer_id][block.name], dtype=float
        )
        frozen = files.frozen[block.net_id][block.layer_id][block.name]
        for flat_index, element in enumerate(element_ids(block)):
            index = np.unravel_index(flat_index, block.shape)
            k = int(source[index])
            base = nn_rows[k][1].copy() if k >= 0 else pd.Series(dtype=object)
            base["parameterId"] = element
            base["nominalValue"] = repr(float(nominal[index]))
            base["estimate"] = "false" if frozen[index] else "true"
            for column, default in (
                ("parameterScale", "lin"),
                ("lowerBound", "-inf"),
                ("upperBound", "inf"),
            ):
                if not str(base.get(column, "")).strip():
                    base[column] = default
            new_rows.append(base)
    expanded = pd.DataFrame(new_rows, columns=table.columns).fillna("")
    return pd.concat([keep, expanded], ignore_index=True)
