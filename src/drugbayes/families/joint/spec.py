"""Options and priors of the ``joint`` family."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .._contract import StrictModel


class ConcentrationPrior(StrictModel):
    """Prior of a drug's in-vivo effective concentration: ``log10 C ~ Normal(log10_mean, sd)``,
    ``log10_mean`` the log10 of a concentration in the drug's dose unit (``[data.dose_units]``,
    or its blocks' ``dose_unit``; e.g. a published free plasma level)."""

    log10_mean: float
    sd: float = Field(0.5, gt=0)


class PredictEntry(StrictModel):
    """A cell line x xenograft arm to predict from in-vitro data: ``[[model.options.predict]]``,
    the older spelling of the top-level ``[[predict]]`` (read with the data)."""

    cell_line: str
    arm: str


class JointOptions(StrictModel):
    """Options of the ``joint`` family.

    ``link`` chooses the in-vitro -> in-vivo link of each cell line x drug's growth-rate
    reduction: ``"viability"`` (default) ``rmax[drug] * (1 - v(C[drug]))``, ``v`` the line's
    fitted viability curve at the in-vivo effective concentration ``C``; ``"log_ic50_linear"``
    ``a[drug] - slope * log10 IC50`` (centred per drug). The component families' options are
    given as tables (``[model.options.dose_response]``, ...); the joint model fixes the ones it
    relies on (xenograft: exponential growth, arm rates from the link) and sets defaults
    for others (combination ``parameterization = "noncentered"``, xenograft ``"mixed"``:
    :data:`.model.DEFAULTS`).
    """

    link: Literal["viability", "log_ic50_linear"] = "viability"
    concentration: dict[str, ConcentrationPrior] = Field(
        default_factory=dict, description="drug -> prior of its in-vivo effective "
        "concentration (default: the middle of the drug's tested doses, sd = its half range "
        "+ concentration_extra_sd)")
    predict: list[PredictEntry] = Field(default_factory=list, description="the older "
                                        "spelling of the top-level [[predict]]")
    dose_response: dict[str, Any] = Field(default_factory=dict)
    combination: dict[str, Any] = Field(default_factory=dict)
    xenograft: dict[str, Any] = Field(default_factory=dict)


class JointPriors(StrictModel):
    """Prior scales of the link (growth rates per day; log10 doses in decades)."""

    assay_log10_ic50_sd: float = Field(0.3, gt=0, description="per-drug offset of the "
                                       "checkerboard's monotherapy log10 IC50 from the "
                                       "dose-response plates'")
    assay_log_top_sd: float = Field(0.1, gt=0, description="offset of the checkerboards' "
                                    "untreated level (their monotherapy curves' top) from "
                                    "the dose-response curves' top, natural log")
    concentration_extra_sd: float = Field(1.0, gt=0)
    rmax_sd: float = Field(0.1, gt=0, description="half-normal: a drug's largest in-vivo "
                           "growth-rate reduction, 1/day")
    link_intercept_sd: float = Field(0.1, gt=0, description="log_ic50_linear: reduction at "
                                     "the middle of the drug's range, 1/day")
    link_slope_sd: float = Field(0.05, gt=0, description="log_ic50_linear: 1/day per decade")
    link_sd: float = Field(0.02, gt=0, description="half-normal: residual of a line's "
                           "reduction around the link, 1/day")
    control_rate_sd: float = Field(0.05, gt=0, description="between-line sd of the "
                                   "untreated growth rate, 1/day (fixed: a few lines "
                                   "cannot learn it)")
    synergy_slope_sd: float = Field(0.1, gt=0, description="in-vivo Bliss excess (1/day) per "
                                    "unit of in-vitro Bliss excess")
    synergy_sd: float = Field(0.02, gt=0, description="half-normal: residual of the in-vivo "
                              "Bliss excess, 1/day")
    dose_response: dict[str, Any] = Field(default_factory=dict, description="the "
                                          "dose-response block's priors "
                                          "([model.priors.dose_response])")
    combination: dict[str, Any] = Field(default_factory=dict, description="the "
                                        "checkerboards' priors ([model.priors.combination])")
    xenograft: dict[str, Any] = Field(default_factory=dict, description="the xenograft "
                                      "block's priors ([model.priors.xenograft])")


LINK = ("link.reduction", "link.viability_at_c", "link.rmax", "link.control_rate",
        "link.in_vitro_bliss", "link.in_vivo_excess", "link.predicted_rate",
        "link.predicted_tc")

def _block_sites() -> tuple[str, ...]:
    """Each block family's deterministic sites under its scope (``xenograft.grp_rate``, ...):
    kept from MAP and SVI draws like the link's, since the blocks' summaries read them."""
    from ..combination import spec as cb
    from ..dose_response import spec as dr
    from ..xenograft import spec as xe

    return tuple(f"{kind}.{site}" for kind, mod in (("dose_response", dr), ("combination", cb),
                                                     ("xenograft", xe))
                 for site in mod.DETERMINISTIC)


DETERMINISTIC = LINK + _block_sites()

OPTIONAL_SITES = frozenset(("link.rmax", "link.in_vitro_bliss", "link.in_vivo_excess",
                            "link.predicted_rate", "link.predicted_tc"))
"""Link sites present only with their design: combination arms (synergy) and
``[[predict]]`` entries."""

NAME = "joint"
DESCRIPTION = ("Joint cross-assay model: dose-response plates, checkerboards and xenografts in "
               "one posterior (one monotherapy hierarchy; in-vitro -> in-vivo growth-rate link; "
               "in-vivo Bliss excess linked to in-vitro synergy; predicted arms).")
OPTIONS, PRIORS = JointOptions, JointPriors
HEADLINE = ("Joint model: IC50s from both in-vitro assays and the in-vivo link",
            ("ic50", "rmax", "predicted_rate", "predicted_tc"))
DEFAULT_PRESET = "joint/link"
DATA_KEYS = ("aliases", "arm_drugs", "dose_units", "predict")
DATA_BLOCKS = ("dose_response", "combination", "xenograft")
