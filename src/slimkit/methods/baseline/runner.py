"""Fit, then test the best checkpoint (by validation accuracy)."""

from __future__ import annotations

from slimkit.methods.classification import ClassificationModule, OptimizerFactory, SchedulerFactory
from slimkit.run_context import RunContext
from slimkit.settings import Fraction


class BaselineRunner:
    """Settings and their defaults: conf/method/baseline.yaml."""

    def __init__(
        self, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None, label_smoothing: Fraction
    ) -> None:
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.label_smoothing = label_smoothing

    def run(self, context: RunContext) -> dict[str, float]:
        model = context.build_model()
        accelerator = context.accelerator_metrics(model)  # before training: a layer it cannot run stops the run now
        module = ClassificationModule(
            model,
            context.datamodule.num_classes,
            self.optimizer,
            self.scheduler,
            self.label_smoothing,
        )
        trainer = context.build_trainer()
        trainer.fit(module, datamodule=context.datamodule, ckpt_path=context.resume_from, weights_only=True)
        metrics = context.test_best(trainer, module)
        params = float(sum(parameter.numel() for parameter in model.parameters()))
        return {**metrics, "model/params": params, **accelerator}
