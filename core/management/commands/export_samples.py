"""``manage.py export_samples``: the samples of a node, an installation or an
organization as CSV or JSON Lines, streamed to stdout or a file."""

import gzip
import io
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core import sample_export
from core.models import Installation, Node
from user_manager.models import Organization


class Command(BaseCommand):
    help = (
        "Export the samples of a node, an installation (only while its node hung in the room) or an "
        "organization (all its nodes) in time order, as CSV or JSON Lines, optionally gzip-compressed."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--node", metavar="UUID", help="The node's id.")
        which.add_argument("--installation", type=int, metavar="ID", help="The installation's id.")
        which.add_argument("--organization", type=int, metavar="ID", help="The organization's id.")
        parser.add_argument(
            "--from", dest="start", metavar="T",
            help="Samples at or after T: Unix seconds or ISO-8601 (without a zone: UTC). Default: the first.",
        )  # fmt: skip
        parser.add_argument(
            "--to", dest="end", metavar="T",
            help="Samples before T (not at T, so that consecutive exports do not overlap). Default: the last.",
        )  # fmt: skip
        parser.add_argument(
            "--format", dest="output_format", choices=sample_export.FORMATS, default="csv", help="Default: csv."
        )
        parser.add_argument(
            "--gzip", dest="compress", action="store_true", help="Compress (implied by an output path ending in .gz)."
        )
        parser.add_argument(
            "-o", "--output", default="-", metavar="PATH", help="Write to this file; '-' (the default) is stdout."
        )

    def handle(self, *args, node, installation, organization, start, end, output_format, compress, output, **options):
        span = sample_export.window(_moment(start, "--from"), _moment(end, "--to"))
        if span.is_empty:
            raise CommandError("--from must be before --to.")
        if node is not None:
            selection = sample_export.node_selection(_node(node), span)
        elif installation is not None:
            selection = sample_export.installation_selection(_get(Installation, installation, "installation"), span)
        else:
            selection = sample_export.organization_selection(_get(Organization, organization, "organization"), span)
        to_file = output != "-"
        rows = sample_export.iter_rows(selection)
        if to_file:
            # OutputWrapper.write would end every redraw of the bar with a newline.
            rows = tqdm(rows, total=selection.count(), unit=" samples", file=self.stderr._out, disable=None)
        with self.open(output, compress=compress or output.endswith(".gz")) as stream:
            count = sample_export.WRITERS[output_format](map(sample_export.export_record, rows), stream)
        if to_file:
            self.stderr.write(f"Wrote {count} samples to {output}.", style_func=str)  # a note, not an error

    @contextmanager
    def open(self, output: str, *, compress: bool):
        """A text stream to ``output``; the file is closed (and so complete) on leaving."""
        if output == "-":
            stdout = self.stdout._out
            if not compress:
                yield stdout
                stdout.flush()
                return
            binary = getattr(stdout, "buffer", None)
            if binary is None:
                raise CommandError("--gzip to stdout needs a binary stdout; give a file with -o.")
            stdout.flush()
            with _text(gzip.GzipFile(fileobj=binary, mode="wb")) as stream:
                yield stream
            binary.flush()
            return
        path = Path(output)
        try:
            raw = path.open("wb")
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        with raw:
            if compress:
                # The name inside the gzip header: what gunzip -N restores.
                name = path.name.removesuffix(".gz")
                with _text(gzip.GzipFile(filename=name, fileobj=raw, mode="wb")) as stream:
                    yield stream
            else:
                with _text(raw) as stream:
                    yield stream


def _text(binary) -> io.TextIOWrapper:
    # newline="": the writers choose line ends (CSV's \r\n, as the API sends).
    return io.TextIOWrapper(binary, encoding="utf-8", newline="")


def _moment(raw: str | None, option: str):
    if raw is None:
        return None
    try:
        return sample_export.parse_moment(raw)
    except ValueError as error:
        raise CommandError(f"{option}: {error}") from None


def _node(raw: str) -> Node:
    try:
        node_id = uuid.UUID(raw)
    except ValueError:
        raise CommandError(f"--node must be a node's UUID, not {raw!r}.") from None
    return _get(Node, node_id, "node")


def _get(model, pk, name: str):
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise CommandError(f"No {name} with the id {pk}.")
    return found
