"""The `deltadiff` command. Sub-commands live in small modules; this one mounts them and turns errors into lines.

A user mistake (a `DeltaDiffError`) becomes one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from deltadiff.cli.inspect import inspect_command
from deltadiff.errors import DeltaDiffError

app = typer.Typer(
    name="deltadiff",
    help="Video creation by demonstration (δ-Diffusion): make a video that starts at a context image and carries out "
    "the action of a demonstration video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("inspect")(inspect_command)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Video creation by demonstration (δ-Diffusion)."""
    if version:
        from deltadiff import __version__

        typer.echo(f"deltadiff {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _mount() -> None:
    from deltadiff.cli.data import data_app
    from deltadiff.cli.train import train_app
    from deltadiff.cli.world import world_app

    app.add_typer(world_app, name="world", help="Render demonstration-world samples, triples and exports.")
    app.add_typer(data_app, name="data", help="Scan video folders/manifests and write WebDataset shards.")
    app.add_typer(train_app, name="train", help="Train a stage (foundation model, bottleneck P, autoencoder, generator) or all of them.")
    from deltadiff.cli.eval import app as eval_app

    app.add_typer(eval_app, name="eval", help="Metrics: standard (FVD, FID/KID, PSNR, SSIM, ECS, ΔPSNR) and the world transfer measurement.")
    from deltadiff.cli.create import create_command, demo_command
    from deltadiff.cli.probe import probe_command

    app.command("demo")(demo_command)
    app.command("create")(create_command)
    app.command("probe")(probe_command)


_mount()


def main() -> None:
    """Console entry point: run the app; print DeltaDiffErrors as one line and exit 1."""
    try:
        app()
    except DeltaDiffError as e:
        print(f"deltadiff: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("deltadiff: interrupted", file=sys.stderr)
        sys.exit(130)
