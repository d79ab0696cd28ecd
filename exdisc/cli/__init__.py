"""exdisc: generate, simulate, prove, synthesize and benchmark the units of the
EXION and DiSC datapaths.

Exit status: 0 success; 1 a check failed (a simulation that differs from the
golden model, a failed proof, a baseline regression, RTL cycles that are not
the model's); 2 bad usage or bad input, a missing or failing tool. Every
error is one line on standard error; EXDISC_DEBUG=1 shows the traceback.
"""

import os
import sys

from exdisc.common.workdir import BUILD_ENV, NotACheckout
from .options import (EXIT_CHECK_FAILED, EXIT_USAGE, CheckFailed, HelpFormatter, Parser,
                      UsageError)


__all__ = ["main", "make_parser"]


def make_parser():
    from . import bench, flow, report, units
    parser = Parser(prog="exdisc", description=__doc__.split("\n\n")[0].replace("\n", " "),
                    epilog=__doc__.split("\n\n")[1].replace("\n", " "),
                    formatter_class=HelpFormatter)
    parser.add_argument("--build-dir", metavar="DIR", default=None,
                        help=f"where builds and records go (default: ${BUILD_ENV}, else "
                             "./build)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)
    units.add_commands(sub)
    bench.add_commands(sub)
    report.add_commands(sub)
    flow.add_commands(sub)
    return parser


def _error(message):
    print(message, file=sys.stderr)


def main(argv=None):
    from exdisc.sim.harness.runner import SimulationFailed
    from exdisc.sim.harness.verilator import MissingTool as SimMissingTool
    from exdisc.synth.tools import MissingTool, ToolFailed
    debug = bool(os.environ.get("EXDISC_DEBUG"))
    try:
        args = make_parser().parse_args(argv)
        if args.build_dir:
            os.environ[BUILD_ENV] = os.path.abspath(args.build_dir)
        return args.func(args)
    except UsageError as e:
        _error(f"{e} (see --help)")
        return EXIT_USAGE
    except (SimulationFailed, CheckFailed) as e:
        if debug:
            raise
        _error(f"exdisc: check failed: {e}")
        return EXIT_CHECK_FAILED
    except (ValueError, TypeError, OSError, MissingTool, SimMissingTool, ToolFailed,
            NotACheckout) as e:
        if debug:
            raise
        _error(f"exdisc: error: {e} (EXDISC_DEBUG=1 shows the traceback)")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("exdisc: interrupted")
        return 130
