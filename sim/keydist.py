"""Which keys the writes hit, as written in a scenario: uniform, Zipf or a hot set.

Shared by the workload (one distribution for all writes) and each key group of a typed dataset
(:mod:`sim.keygroups`); :mod:`sim.physics.keyspace` turns one into popularity classes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .fieldtypes import Fraction
from .inputs import shown


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Zipf(_Model):
    """Zipf popularity: the key of rank r is written with probability proportional to r^-s."""

    zipf: float = Field(gt=0, le=5)


class HotSetSpec(_Model):
    keys: Fraction
    writes: Fraction

    @model_validator(mode="after")
    def _proper(self) -> HotSetSpec:
        if not 0 < self.keys < 1:
            raise ValueError("hot_set.keys must be strictly between 0% and 100%")
        return self


class HotSet(_Model):
    """A hot set: ``keys`` share of the keys takes ``writes`` share of the writes, uniformly within."""

    hot_set: HotSetSpec


class Uniform(_Model):
    """Every key equally likely (written as the plain string ``uniform``)."""

    uniform: bool = True


def _distribution(value: Any) -> Any:
    if value == "uniform":
        return {"uniform": True}
    if isinstance(value, str):
        raise ValueError(
            f"{shown(value)} is not a key distribution; use uniform, {{zipf: 0.99}} "
            f"or {{hot_set: {{keys: 10%, writes: 90%}}}}"
        )
    return value


KeyDistribution = Annotated[Uniform | Zipf | HotSet, BeforeValidator(_distribution)]
