"""Family ``joint``: dose-response plates, checkerboards and xenografts in one posterior.

The package: :mod:`.spec` (options, priors), :mod:`.data` (the blocks read by their own
families, the registry of levels, the link's arrays), :mod:`.model` (the families' own latents
and likelihoods, linked), :mod:`.derived` (namespaced labelled posterior), :mod:`.summary`
(each block's summary with an ``assay`` column, the link's rows), :mod:`.plots` (the link) and
:mod:`.simulate`. This module assembles :data:`FAMILY`; its data are named blocks
(``DATA_BLOCKS``: ``[data.dose_response]``, ``[data.combination]``, ``[data.xenograft]``).
"""

from __future__ import annotations

from ...errors import ConfigError, InputError, Issue
from .._contract import Family, Spec
from . import spec
from .data import COMPONENTS, JointData, add_predictions, arrays, describe, prepare
from .derived import observed, pointwise, posterior_dims
from .model import component_spec, init_values, latents, likelihood, map_start, model
from .plots import plot_joint
from .simulate import contract_data, simulate, simulate_joint
from .spec import JointOptions, JointPriors
from .summary import summarize, validate_contrasts

plot = plot_joint


def check_spec(spec: Spec, data: JointData, source: str = "<config>") -> None:
    """Check the options against the data: each block's options (by its family), the
    concentration priors' drugs and the predictions; indexes the predictions and the
    concentration priors into ``data`` (what :func:`.data.arrays` reads)."""
    issues: list = []
    for kind in COMPONENTS:
        try:
            s = component_spec(spec, kind)
            fam = COMPONENTS[kind]
            if kind in data.blocks and fam.check_spec is not None:
                fam.check_spec(s, data.blocks[kind], source)
        except InputError as e:
            issues += [i if isinstance(i, str) else Issue(
                i.source, i.line, (i.column or "").replace(
                    "model.options.", f"model.options.{kind}.").replace(
                    "model.priors.", f"model.priors.{kind}."),
                i.value, i.message) for i in e.issues]
    linked = {data.drugs[int(d)] for d in data.unit_drug}
    for d in spec.options.concentration:
        if d not in data.drugs:
            issues.append(Issue(source, None, f"model.options.concentration.{d}", d,
                                f"not an in-vitro drug ({', '.join(data.drugs)})"))
        elif d not in linked and "xenograft" in data.blocks:
            issues.append(Issue(source, None, f"model.options.concentration.{d}", d,
                                "no xenograft arm gives this drug"))
    old = [e.model_dump() for e in spec.options.predict]
    if old and data.predict_key == "predict":
        issues.append(Issue(source, None, "model.options.predict", None,
                            "predictions given twice: keep the top-level [[predict]] entries "
                            "and drop [[model.options.predict]] (its older spelling)"))
    elif old:
        try:
            add_predictions(data, old, source)
        except ConfigError as e:
            issues += e.issues
    if issues:
        raise ConfigError(issues)
    data.concentration = {k: v.model_dump() for k, v in spec.options.concentration.items()}
    data.concentration_extra_sd = spec.priors.concentration_extra_sd


FAMILY = Family.assemble(globals(), spec)

__all__ = ["FAMILY", "JointData", "JointOptions", "JointPriors", "arrays", "check_spec",
           "contract_data", "describe", "init_values", "latents", "likelihood", "map_start",
           "model", "observed", "pointwise", "posterior_dims", "prepare", "simulate",
           "simulate_joint", "summarize", "validate_contrasts"]
