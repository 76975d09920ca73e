"""Stageline: a multi-stage CI/CD pipeline engine for GitHub Actions workflows.

The public surface is small on purpose: the CLI (`stageline`), the expression
evaluator (`stageline.expressions.evaluate`) and the workflow loader
(`stageline.workflow.load_workflow`). Everything else is implementation.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
