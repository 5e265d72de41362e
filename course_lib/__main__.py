"""Command line: `python -m course_lib doctor | serve | solutions | validate | progress | site | slides |
train-longer | export`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description="Tools of the LLM customization course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the provider, the models and the libraries; exit 1 on a problem")
    serve = commands.add_parser("serve", help="serve the local model as an OpenAI-compatible API (for a room)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for a room's network)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--api-key", default="", help="require this key from clients (they send it as OPENAI_API_KEY)")
    serve.add_argument("--adapter", action="append", default=[], metavar="NAME=FOLDER",
                       help="also serve a LoRA adapter (a folder saved by lesson 03) under NAME; repeatable")
    serve.add_argument("--quiet", action="store_true", help="no line per request")
    serve.add_argument("--slots", type=int, default=None,
                       help="requests decoded together (default 8: a room's many short requests)")
    sol = commands.add_parser("solutions", help="write solutions/*.ipynb from exercises/*.ipynb and the answers")
    sol.add_argument("--check", action="store_true", help="only report solution notebooks that are out of date")
    val = commands.add_parser("validate", help="run notebooks against the configured provider; report each with "
                                                "its time; exit 1 on any failure")
    val.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all), e.g. 00 02_rag")
    val.add_argument("--folders", default="notebooks,exercises,solutions",
                     help="comma-separated folders to run (default: all three)")
    val.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    val.add_argument("--estimate-cost", action="store_true", help="print what the notebooks would cost on the "
                                                                   "configured model, without running them")
    val.add_argument("--record-usage", action="store_true", help="also write the tokens each notebook sends "
                                                                  "(local provider), for --estimate-cost")
    prog = commands.add_parser("progress", help="which exercises a learner's saved notebooks show as Correct")
    prog.add_argument("folder", nargs="?", default=None, help="folder of exercise notebooks (default: exercises/)")
    site = commands.add_parser("site", help="run the lessons and write them as a static HTML site")
    site.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    site.add_argument("--out", default=None, help="output folder (default: build/site)")
    site.add_argument("--no-execute", action="store_true", help="render without running (no outputs)")
    slides = commands.add_parser("slides", help="write one reveal.js slide deck per lesson")
    slides.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    slides.add_argument("--out", default=None, help="output folder (default: build/slides)")
    longer = commands.add_parser("train-longer", help="train lesson 03's SQL adapter with 32 times the steps "
                                 "on more than three times the data (about an hour on 2 cores) into "
                                 "course_lib/data/itdb/adapter-longer")
    longer.add_argument("--out", default=None, help="output folder (default: course_lib/data/itdb/adapter-longer)")
    export = commands.add_parser("export", help="write the base model (Hugging Face format and GGUF) and every "
                                 "trained adapter (PEFT and GGUF) with the vLLM and llama-server command lines")
    export.add_argument("out", help="folder to write, e.g. build/export")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from .doctor import run

        return run()
    if args.command == "serve":
        from .runtime.server import ROOM_SLOTS
        from .runtime.server import serve as run_server

        adapters = dict(item.split("=", 1) for item in args.adapter if "=" in item)
        if len(adapters) != len(args.adapter):
            parser.error("--adapter takes NAME=FOLDER, e.g. --adapter ft:gemma-3-270m:sql=~/.cache/course_lib/...")
        if args.slots is not None and not 1 <= args.slots <= 64:
            parser.error(f"--slots {args.slots}: give a number from 1 to 64 (8 suits a room of about 30 on 2 cores)")
        run_server(args.host, args.port, args.api_key, adapters, args.quiet, slots=args.slots or ROOM_SLOTS)
        return 0
    if args.command == "solutions":
        from .notebooks import write_solutions

        return write_solutions(check_only=args.check)
    if args.command == "validate":
        from .validate import estimate_cost, validate

        folders = tuple(f for f in args.folders.split(",") if f)
        if args.estimate_cost:
            return estimate_cost(args.lessons or None, folders)
        return validate(args.lessons or None, folders, args.timeout, record_usage=args.record_usage)
    if args.command == "progress":
        from .validate import progress_report

        print(progress_report(args.folder))
        return 0
    if args.command == "site":
        from .publish import main_site

        return main_site(args.out, args.lessons or None, not args.no_execute)
    if args.command == "slides":
        from .publish import main_slides

        return main_slides(args.out, args.lessons or None)
    if args.command == "train-longer":
        from .finetune import LONGER_ADAPTER, train_longer

        result = train_longer(args.out or LONGER_ADAPTER)
        print(f"{result!r}\nsaved to {result.adapter_dir}")
        return 0
    if args.command == "export":
        from .export import export as write_export

        print(f"exported to {write_export(args.out)}; see its README.md")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
