"""One sub-package per method. A method is a runner object (built from ``cfg.method.runner``)
with ``run(context) -> dict`` of final metrics; the pipeline never branches on its name.
The other keys of ``cfg.method`` (but ``name`` and ``task``) are the method's settings, passed to the
runner as keyword arguments, so users write ``method.sparsity=0.9``."""
