"""``method=meta_sr``: train one Meta-SR network for every scale of the training range, then evaluate it at a
list of scales on the held-out photos and on benchmark folders (Set5, Set14, B100, Urban100), bicubic beside.

Stages (``method.stage``): train | evaluate | all. ``evaluate`` alone takes ``method.checkpoint`` (a run's
checkpoints/last.ckpt or best.ckpt). Outputs in the run dir: evaluation/results.md, results.csv,
psnr_vs_scale.png and comparison_x<r>.png.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

import torch
from annotated_types import Gt, MinLen
from PIL import Image

from slimkit.data.sr import list_hr_images
from slimkit.errors import ConfigError
from slimkit.methods.classification import OptimizerFactory
from slimkit.methods.meta_sr.evaluation import comparison_strip, evaluate_folder, plot_psnr, write_tables
from slimkit.methods.meta_sr.module import MetaSRModule
from slimkit.methods.stages import Products, Stage, StagePlan, StageRunner
from slimkit.models.meta_sr import MetaSR
from slimkit.run_context import RunContext
from slimkit.settings import PositiveInt

log = logging.getLogger(__name__)
Scale = Annotated[float, Gt(1)]  # an upscaling factor


def image_files(folder: str | Path) -> list[Path]:
    """The HR images of a benchmark folder, as the SR datamodule lists a training folder."""
    files = list_hr_images(Path(folder))
    if not files:
        raise ConfigError(f"{folder} holds no images (*.png, *.jpg, *.jpeg, *.bmp)")
    return files


class MetaSRRunner:
    """Settings and their defaults: conf/method/meta_sr.yaml."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        halve_every: PositiveInt,
        stage: Literal["train", "evaluate", "all"],
        checkpoint: str | None,
        eval_scales: Annotated[list[Scale], MinLen(1)],
        eval_sets: list[str],
        strip_scale: Scale,
    ) -> None:
        self.eval_scales = [float(s) for s in eval_scales]
        self.eval_sets = [str(folder) for folder in eval_sets]
        for folder in self.eval_sets:
            if not Path(folder).is_dir():
                raise ConfigError(f"method.eval_sets: {folder} is not a folder of HR images")
            image_files(folder)
        how = "method.checkpoint=<run>/checkpoints/last.ckpt (a file)"
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise ConfigError(f"method.checkpoint={checkpoint} is not a file: {how}")
        if stage == "evaluate" and checkpoint is None:  # no stage file can supply it: say so before the run starts
            raise ConfigError(f"method.stage=evaluate needs {how}")
        self.optimizer = optimizer
        self.halve_every = halve_every
        self.checkpoint = checkpoint
        self.strip_scale = float(strip_scale)
        self.plan = StagePlan(
            [
                Stage("train", self._train, produces=("model",), reusable=True),
                Stage("evaluate", self._evaluate_stage, needs=("model",)),
            ],
            stage,
            how={"model": how},
            supplied=["model"] if checkpoint else [],
        )

    def run(self, context: RunContext) -> dict[str, float]:
        model: MetaSR = context.build_model()
        data = context.datamodule
        model.trained_scales.copy_(torch.tensor([min(data.scales), max(data.scales)]))
        products = {"module": MetaSRModule(model, self.optimizer, self.halve_every)}
        metrics: dict[str, float] = {"model/params": float(sum(p.numel() for p in model.parameters()))}
        return metrics | self.plan.run(StageRunner(context), products)

    def _train(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """The model trained (resumed from last.ckpt) and tested; or, given ``method.checkpoint``, that one tested."""
        context, module = stages.context, products["module"]
        if self.checkpoint:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
            module.load_state_dict(state.get("state_dict", state))
            products["model"] = module.model
            return stages.test(module)
        trainer = context.build_trainer()
        trainer.fit(module, datamodule=context.datamodule, ckpt_path=context.resume_from, weights_only=True)
        products["model"] = module.model
        return context.test_best(trainer, module)

    def _evaluate_stage(self, stages: StageRunner, products: Products) -> dict[str, float]:
        return self._evaluate(stages.context, products["model"])

    def _evaluate(self, context: RunContext, model: MetaSR) -> dict[str, float]:
        folder = context.output_dir / "evaluation"
        folder.mkdir(parents=True, exist_ok=True)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        sets = {Path(path).name: image_files(path) for path in self.eval_sets}
        if not sets:  # the held-out photos of the datamodule, written out as the HR images they are
            held_out = folder / "heldout"
            held_out.mkdir(exist_ok=True)
            for name, image in context.datamodule.held_out_images():
                gray = bool((image == image[..., :1]).all())  # saved as one channel: scored on it, as files are
                Image.fromarray(image[..., 0] if gray else image).save(held_out / f"{name}.png")
            sets = {"heldout": image_files(held_out)}
        rows, metrics = [], {}
        for name, images in sets.items():
            log.info("evaluating on %s (%d images) at scales %s", name, len(images), self.eval_scales)
            found, examples = evaluate_folder(model, name, images, self.eval_scales)
            rows += found
            for scale, (bicubic, sr, hr) in examples.items():
                if abs(scale - self.strip_scale) < 1e-9:
                    comparison_strip(bicubic, sr, hr, folder / f"comparison_{name}_x{scale:g}.png")
        for row in rows:
            prefix = f"{row.dataset}/{'bicubic_' if row.method == 'bicubic' else ''}"
            metrics[f"{prefix}psnr_x{row.scale:g}"] = row.psnr
            metrics[f"{prefix}ssim_x{row.scale:g}"] = row.ssim
        gains = [metrics[f"{row.dataset}/psnr_x{row.scale:g}"] - row.psnr for row in rows if row.method == "bicubic"]
        metrics["eval/min_gain_over_bicubic"] = min(gains)
        write_tables(rows, folder)
        plot_psnr(rows, folder / "psnr_vs_scale.png")
        log.info("evaluation tables in %s:\n%s", folder, (folder / "results.md").read_text())
        return metrics
