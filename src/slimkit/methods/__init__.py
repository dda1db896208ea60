"""One sub-package per method. A method is a runner object (built from ``cfg.method.runner``)
with ``run(context) -> dict`` of final metrics; the pipeline never branches on its name."""
