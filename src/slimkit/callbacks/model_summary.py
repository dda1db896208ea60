"""Lightning's model summary (a Rich table) without a FLOPs column of zeros.

Lightning counts FLOPs only for a module with an ``example_input_array``, by running it once at summary
time; slimkit's modules set none (for a supernet the count would be that of whichever path it holds at
that moment), so its table read 0 in every row. A method that has a meaningful figure reports it as
``model/flops`` in results.json (SPOS, MetaPruning); ``slimkit.model_cost`` counts any config's model.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count

NUMERIC_COLUMNS = {"Params", "Params per Device", "In sizes", "Out sizes"}


class ModelSummary(RichModelSummary):
    """``callbacks.model_summary``: Lightning's table as it is when FLOPs were counted, else without them."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for index, (name, _) in enumerate(columns):
            justify = "right" if name in NUMERIC_COLUMNS else "left"
            table.add_column(name, justify=justify, style="dim" if index == 0 else None)
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        totals = Table.grid(expand=True)
        totals.add_column()
        for label, value in [
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            ("Non-trainable params", get_human_readable_count(int(total_parameters - trainable_parameters))),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", total_training_modes["train"]),
            ("Modules in eval mode", total_training_modes["eval"]),
        ]:
            totals.add_row(f"[bold]{label}[/]: {value}")
        console = get_console()
        console.print(table)
        console.print(totals)
