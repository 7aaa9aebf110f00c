"""cellode: mechanistic, neural and hybrid ODEs for cellular dynamics.

Float64: mechanistic and stiff work needs JAX's 64-bit mode, which is process-wide. Switch it on
once, first thing in your program (the `cellode` command does this itself):

    import jax
    jax.config.update("jax_enable_x64", True)

Importing cellode never flips it. Code that needs float64 raises `PrecisionError` when it is off.
"""

from ._data.experiment import Experiment as Experiment
from ._data.measurements_csv import read_measurements as read_measurements
from ._data.measurements_csv import write_measurements as write_measurements
from ._data.noise import AbstractNoiseModel as AbstractNoiseModel
from ._data.noise import Gaussian as Gaussian
from ._data.noise import GaussianFull as GaussianFull
from ._data.noise import LogNormal as LogNormal
from ._data.observables import Observables as Observables
from ._diagnostics.gradients import GradientCheck as GradientCheck
from ._diagnostics.gradients import ToleranceStudy as ToleranceStudy
from ._diagnostics.gradients import gradient_check as gradient_check
from ._diagnostics.gradients import gradient_error_vs_tolerance as gradient_error_vs_tolerance
from ._diagnostics.stiffness import StiffnessReport as StiffnessReport
from ._diagnostics.stiffness import plot_stiffness as plot_stiffness
from ._diagnostics.stiffness import stiffness as stiffness
from ._errors import CellodeError as CellodeError
from ._errors import InputError as InputError
from ._errors import ModelError as ModelError
from ._errors import PrecisionError as PrecisionError
from ._errors import SolveError as SolveError
from ._examples.builtin import builtin_model_path as builtin_model_path
from ._fitting.multistart import MultistartResult as MultistartResult
from ._fitting.multistart import latin_hypercube as latin_hypercube
from ._fitting.multistart import multistart as multistart
from ._fitting.multistart import sample_starts as sample_starts
from ._fitting.optimise import FitResult as FitResult
from ._fitting.optimise import fit as fit
from ._fitting.optimise import fit_least_squares as fit_least_squares
from ._fitting.optimise import load_result as load_result
from ._fitting.problem import Estimate as Estimate
from ._fitting.problem import Problem as Problem
from ._inputs import AbstractInput as AbstractInput
from ._inputs import Constant as Constant
from ._inputs import PiecewiseConstant as PiecewiseConstant
from ._inputs import PiecewiseLinear as PiecewiseLinear
from ._inputs import Stacked as Stacked
from ._io.csv import write_trajectory_csv as write_trajectory_csv
from ._models.discrete_map import AbstractDiscreteMap as AbstractDiscreteMap
from ._models.discrete_map import FunctionMap as FunctionMap
from ._models.hybrid import Correction as Correction
from ._models.hybrid import HybridRates as HybridRates
from ._models.hybrid import NeuralRates as NeuralRates
from ._models.mass_action import MassAction as MassAction
from ._models.neural import NeuralField as NeuralField
from ._models.polynomial_net import ExactPolynomialNet as ExactPolynomialNet
from ._models.rate_laws import RateLawField as RateLawField
from ._models.resnet_euler import EulerConvergence as EulerConvergence
from ._models.resnet_euler import EulerResNet as EulerResNet
from ._models.resnet_euler import euler_resnet_convergence as euler_resnet_convergence
from ._models.sde import SDE as SDE
from ._models.sde import AbstractDiffusion as AbstractDiffusion
from ._models.sde import AdditiveNoise as AdditiveNoise
from ._models.sde import FunctionDiffusion as FunctionDiffusion
from ._models.sde import MultiplicativeNoise as MultiplicativeNoise
from ._models.vector_field import AbstractVectorField as AbstractVectorField
from ._models.vector_field import FunctionField as FunctionField
from ._networks.conservation import ConservationLaws as ConservationLaws
from ._networks.conservation import conservation_drift as conservation_drift
from ._networks.conservation import conservation_laws as conservation_laws
from ._networks.expressions import parse_expression as parse_expression
from ._networks.model_file import NetworkModel as NetworkModel
from ._networks.model_file import load_model as load_model
from ._networks.network import ExpressionRate as ExpressionRate
from ._networks.network import HillRate as HillRate
from ._networks.network import MassActionRate as MassActionRate
from ._networks.network import MichaelisMentenRate as MichaelisMentenRate
from ._networks.network import Reaction as Reaction
from ._networks.network import ReactionNetwork as ReactionNetwork
from ._networks.reduction import ReducedField as ReducedField
from ._networks.reduction import choose_dependent_species as choose_dependent_species
from ._plotting.trajectory import plot_ensemble as plot_ensemble
from ._plotting.trajectory import plot_trajectory as plot_trajectory
from ._sensitivity.backsolve import BacksolveAdjoint as BacksolveAdjoint
from ._sensitivity.base import AbstractSensitivity as AbstractSensitivity
from ._sensitivity.base import DiscreteAdjoint as DiscreteAdjoint
from ._sensitivity.checkpointed_adjoint import CheckpointedAdjoint as CheckpointedAdjoint
from ._sensitivity.forward import ForwardSensitivity as ForwardSensitivity
from ._sensitivity.running_cost import WithRunningCost as WithRunningCost
from ._sensitivity.running_cost import simulate_with_cost as simulate_with_cost
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
