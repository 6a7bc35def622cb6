"""Clustering methods. Each ``conf/method/<name>.yaml`` names its entry function
(``entry: src.methods.<module>.run``) with the signature of :data:`MethodFn`."""

from src.methods.base import MethodFn, MethodOutput, RunContext

__all__ = ["MethodFn", "MethodOutput", "RunContext"]
