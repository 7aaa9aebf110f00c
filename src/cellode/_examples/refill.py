"""A PEtab v1 problem with an SBML event, written by cellode for tests, benchmarks and docs.

The model `refill_model`: X' = -k X, X(0) = 1 (amount, compartment C of size 1; k is the
parameter `kd`); the event `refill` sets X = X + b (b: `dose`) whenever X falls below 1/2.
From X(0) = 1 the event fires at t1 = ln 2 / k, and again at t2 = t1 + ln(1 + 2b) / k: between the firings X(t) = (1/2 + b) e^{-k (t - t_i)}. Its
firing times depend on the parameters, so the gradient of any fit carries dt_i/dtheta.
The problem measures X at `TIMES` (normal noise, sigma = `SIGMA`) and estimates k and b.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

TIMES = (0.5, 2.0, 3.0, 5.0)
VALUES = (0.8, 0.9, 0.5, 0.7)
SIGMA = 0.1
THETA = (0.5, 1.0)  # nominal kd, dose (k and b; AMICI reserves the id k)

REFILL_SBML = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="refill_model">
    <listOfCompartments>
      <compartment id="C" spatialDimensions="3" size="1" constant="true"/>
    </listOfCompartments>
    <listOfSpecies>
      <species id="X" compartment="C" initialAmount="1" hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters>
      <parameter id="kd" value="0.5" constant="true"/>
      <parameter id="dose" value="1" constant="true"/>
    </listOfParameters>
    <listOfReactions>
      <reaction id="decay" reversible="false">
        <listOfReactants>
          <speciesReference species="X" stoichiometry="1" constant="true"/>
        </listOfReactants>
        <kineticLaw>
          <math xmlns="http://www.w3.org/1998/Math/MathML">
            <apply>
              <times/>
              <ci> kd </ci>
              <ci> X </ci>
            </apply>
          </math>
        </kineticLaw>
      </reaction>
    </listOfReactions>
    <listOfEvents>
      <event id="refill" useValuesFromTriggerTime="true">
        <trigger initialValue="false" persistent="true">
          <math xmlns="http://www.w3.org/1998/Math/MathML">
            <apply>
              <lt/>
              <ci> X </ci>
              <cn> 0.5 </cn>
            </apply>
          </math>
        </trigger>
        <listOfEventAssignments>
          <eventAssignment variable="X">
            <math xmlns="http://www.w3.org/1998/Math/MathML">
              <apply>
                <plus/>
                <ci> X </ci>
                <ci> dose </ci>
              </apply>
            </math>
          </eventAssignment>
        </listOfEventAssignments>
      </event>
    </listOfEvents>
  </model>
</sbml>"""


def write_refill_problem(folder: str | Path, times: Sequence[float] = TIMES) -> Path:
    """Write the refill problem's SBML model and PEtab v1 tables into `folder` (measurements
    at `times`, a prefix-compatible subset of the values); returns the problem's YAML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.xml").write_text(REFILL_SBML)
    (folder / "conditions.tsv").write_text("conditionId\nc0\n")
    (folder / "observables.tsv").write_text(
        f"observableId\tobservableFormula\tnoiseFormula\nobs_x\tX\t{SIGMA}\n"
    )
    rows = "".join(f"obs_x\tc0\t{t}\t{m}\n" for t, m in zip(times, VALUES, strict=False))
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\ttime\tmeasurement\n" + rows
    )
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        f"kd\tlin\t0.1\t2\t{THETA[0]}\t1\ndose\tlin\t0.1\t5\t{THETA[1]}\t1\n"
    )
    (folder / "refill.yaml").write_text(
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
        "- condition_files: [conditions.tsv]\n  measurement_files: [measurements.tsv]\n"
        "  observable_files: [observables.tsv]\n  sbml_files: [model.xml]\n"
    )
    return folder / "refill.yaml"
