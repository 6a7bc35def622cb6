"""Clustering methods. Each ``conf/method/<name>.yaml`` names its entry function
(``entry: src.methods.<module>.run``) with the signature of :data:`MethodFn`."""

from src.engine.context import RunContext
from src.methods.base import MethodFn, MethodOutput

__all__ = ["MethodFn", "MethodOutput", "RunContext"]
