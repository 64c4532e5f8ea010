"""`flask model …`: model commands (the web app registers this group)."""
from __future__ import annotations

import json

import click

from scoring.records.evaluate import EvaluationError, evaluate_csv, report_lines

model = click.Group("model", help="Evaluate and manage scoring models.")


@model.command("evaluate")
@click.option("--csv", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A CSV of leads or deals, one row per record.")
@click.option("--target", required=True, help="The column holding the outcome.")
@click.option("--positive", default=None,
              help="The target value that counts as success (default: 1, true or yes).")
@click.option("--id", "id_column", default=None,
              help="A column identifying the record, left out of the features.")
@click.option("--time-split", is_flag=True,
              help="Test on the latest 25% of rows by date instead of a random 25%.")
@click.option("--keep", "keep", multiple=True, metavar="COLUMN",
              help="Keep a column the leakage guard would exclude: you know it is filled before the outcome. "
                   "The report records the override. Repeat for several columns.")
@click.option("--json", "as_json", is_flag=True, help="End with the results as one JSON object on the last line.")
def evaluate(csv_path, target, positive, id_column, time_split, keep, as_json):
    """Train and test the production scoring pipeline on your own CSV."""
    try:
        result = evaluate_csv(csv_path, target, positive, id_column, time_split, tuple(keep))
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report_lines(result):
        click.echo(line)
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
