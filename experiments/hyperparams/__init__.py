"""Shipped training hyper-parameters (installed as ``romanus.hyperparams``): ``<algo>.yml`` keyed by env id."""
