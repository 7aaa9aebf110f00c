"""cellode: mechanistic, neural and hybrid ODEs for cellular dynamics.

Float64: mechanistic and stiff work needs JAX's 64-bit mode, which is process-wide. Switch it on
once, first thing in your program (the `cellode` command does this itself):

    import jax
    jax.config.update("jax_enable_x64", True)

Importing cellode never flips it. Code that needs float64 raises `PrecisionError` when it is off.
"""

from ._diagnostics.stiffness import StiffnessReport as StiffnessReport
from ._diagnostics.stiffness import plot_stiffness as plot_stiffness
from ._diagnostics.stiffness import stiffness as stiffness
from ._errors import CellodeError as CellodeError
from ._errors import InputError as InputError
from ._errors import ModelError as ModelError
from ._errors import PrecisionError as PrecisionError
from ._errors import SolveError as SolveError
from ._inputs import AbstractInput as AbstractInput
from ._inputs import Constant as Constant
from ._inputs import PiecewiseConstant as PiecewiseConstant
from ._inputs import PiecewiseLinear as PiecewiseLinear
from ._inputs import Stacked as Stacked
from ._models.discrete_map import AbstractDiscreteMap as AbstractDiscreteMap
from ._models.discrete_map import FunctionMap as FunctionMap
from ._models.sde import SDE as SDE
from ._models.sde import AbstractDiffusion as AbstractDiffusion
from ._models.sde import AdditiveNoise as AdditiveNoise
from ._models.sde import FunctionDiffusion as FunctionDiffusion
from ._models.sde import MultiplicativeNoise as MultiplicativeNoise
from ._models.vector_field import AbstractVectorField as AbstractVectorField
from ._models.vector_field import FunctionField as FunctionField
from ._sensitivity.base import AbstractSensitivity as AbstractSensitivity
from ._sensitivity.base import DiscreteAdjoint as DiscreteAdjoint
from ._simulation.simulate import simulate as simulate
from ._simulation.trajectory import RESULTS as RESULTS
from ._simulation.trajectory import SolverStats as SolverStats
from ._simulation.trajectory import Trajectory as Trajectory
from ._solvers.auto import choose_solver as choose_solver
from ._solvers.bdf import BDF as BDF
from ._solvers.registry import SOLVERS as SOLVERS
from ._solvers.rosenbrock import AbstractRosenbrock as AbstractRosenbrock
from ._solvers.rosenbrock import Rodas5P as Rodas5P
from ._solvers.rosenbrock import Rosenbrock23 as Rosenbrock23
from ._version import __version__ as __version__
