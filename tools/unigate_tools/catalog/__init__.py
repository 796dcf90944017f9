"""`make catalog` / `unigate catalog update`: unigate's built-in catalog, generated from LiteLLM's price map."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from unigate_tools.catalog import docs, generate, source


def update(version: str | None = None, *, out: TextIO = sys.stdout, crosscheck: bool = True) -> int:
    """Regenerates the catalog, its licence notice, the generation report and the documented counts,
    and prints what was added, removed and repriced against the committed catalog."""
    loaded = source.load(version or source.LITELLM_VERSION)
    doc, report = generate.generate(loaded)
    old = json.loads(generate.CATALOG.read_text(encoding="utf-8")) if generate.CATALOG.exists() else {}
    added, removed, repriced = generate.diff(old, doc)
    if crosscheck:
        from unigate_tools.catalog import crosscheck as second_source

        second_source.compare(doc, report)
    generate.write(doc, loaded)
    docs.write_report(doc, report)
    docs.write_counts(doc)
    counts = doc["counts"]
    print(f"litellm {loaded.version}: {counts['endpoints']} endpoints ({counts['chat']} chat, "
          f"{counts['embedding']} embedding) of {counts['models']} models over {counts['providers']} providers",
          file=out)
    for title, names in (("added", added), ("removed", removed), ("repriced", repriced)):
        print(f"{title}: {len(names)}", file=out)
        for name in names:
            print(f"  {name}", file=out)
    if report.compared:
        print(f"cross-checked {report.compared} prices: {len(report.disagreements)} disagree by more than 5% "
              f"(docs/catalog-report.md)", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m unigate_tools.catalog")
    parser.add_argument("--litellm-version", default=None)
    parser.add_argument("--no-crosscheck", action="store_true")
    args = parser.parse_args(argv)
    try:
        return update(args.litellm_version, crosscheck=not args.no_crosscheck)
    except source.SourceUnavailable as exc:
        print(f"catalog: {exc}", file=sys.stderr)
        return 2
