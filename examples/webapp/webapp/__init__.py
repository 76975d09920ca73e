"""A tiny web service: the project Stageline's demo pipeline builds, tests and deploys."""

__version__ = "1.0.0"
