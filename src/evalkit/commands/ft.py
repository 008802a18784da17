"""evalkit ft: fine-tune data (split, export, validate, estimate, leakage) and jobs (launch, status)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

FORMATS_HELP = (
    "openai-chat (default), openai-dpo, openai-rft, hf-chat, hf-grpo, vertex-gemini, or a plugin's (evalkit.ft_formats)"
)
REWARD_FORMATS = ("trl", "openai-grader")


def register(sub) -> None:
    p = sub.add_parser(
        "ft",
        help="fine-tune data and jobs: split, export, reward, validate, estimate, leakage, launch, status",
        description="Prepare, check, price and launch the fine-tune of a suite's tuned route.",
    )
    ft = p.add_subparsers(dest="ft_command", metavar="STEP")
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])

    s = ft.add_parser("split", help="assign train/holdout to cases without a split, stratified by label")
    s.add_argument("cases", type=Path, help="case file (JSONL, CSV or YAML)")
    s.add_argument("--holdout", type=float, default=0.2, help="share of each label held out (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "--stratify", choices=["label", "none"], default="label", help="draw per label (default) or over all cases"
    )
    s.add_argument("--label-field", help="dot path of the label when expected is an object")
    s.add_argument("--out", type=Path, help="write here instead of rewriting the case file")
    s.add_argument("--dry-run", action="store_true", help="print the counts, write nothing")
    s.add_argument("--json", action="store_true", help="print the counts as JSON")
    s.set_defaults(handler=handle_split)

    e = ft.add_parser("export", help="write the train split as a training file, rendered by the tuned route")
    e.add_argument("suite", type=Path, help="suite YAML file")
    e.add_argument("--route", help="the route whose prompts training sees (default: the suite's finetuned route)")
    e.add_argument("--out", type=Path, required=True, help="training JSONL to write")
    e.add_argument("--validation-out", type=Path, help="also write a validation file, carved from the train split")
    e.add_argument(
        "--validation-fraction", type=float, default=0.2, help="share of train cases for validation (default 0.2)"
    )
    e.add_argument("--seed", type=int, default=0, help="seed of the validation draw (default 0)")
    e.add_argument("--format", default="openai-chat", help=FORMATS_HELP)
    e.add_argument(
        "--allow-leakage", action="store_true", help="write even when holdout cases leak into the train split"
    )
    e.add_argument("--threshold", type=float, help="near-copy cosine threshold of the leakage check (default 0.9)")
    e.add_argument("--grader-out", type=Path, help="also write the suite's scoring as an OpenAI grader (JSON), for RFT")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(handler=handle_export)

    r = ft.add_parser(
        "reward",
        help="write the suite's scoring as a reward: a TRL reward module or an OpenAI grader",
        description="Write the suite's scoring (parse, validate, compare each scored field, weights) as a "
        "stdlib-only reward function for TRL's GRPOTrainer, or as an OpenAI grader. See docs/rft.md.",
    )
    r.add_argument("suite", type=Path, help="suite YAML file")
    r.add_argument(
        "--format",
        choices=REWARD_FORMATS,
        default="trl",
        help="trl: a Python module (default); openai-grader: grader JSON",
    )
    r.add_argument("--out", type=Path, required=True, help="file to write")
    r.set_defaults(handler=handle_reward)

    v = ft.add_parser("validate", help="check a training file: format errors, warnings, tokens, epochs, billed tokens")
    v.add_argument("file", type=Path, help="training JSONL")
    v.add_argument("--format", help=FORMATS_HELP.replace(" (default)", "") + "; default: guessed from the first line")
    v.add_argument("--model", help="count with this model's encoding and token limit (default: cl100k_base, 4,096)")
    v.add_argument("--validation", type=Path, help="openai-rft: the validation file to check with it")
    v.add_argument(
        "--grader", type=Path, help="openai-rft: the grader JSON whose reference fields every line must carry"
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(handler=handle_validate)

    c = ft.add_parser("estimate", help="training cost, and the inference cost change of the tuned route")
    c.add_argument("file", type=Path, help="training JSONL")
    c.add_argument("--model", required=True, help="base model to tune, PROVIDER:MODEL (a bare name is OpenAI's)")
    c.add_argument("--epochs", type=int, help="epochs (default: the default-epochs rule)")
    c.add_argument("--format", help="training file format (default: guessed)")
    c.add_argument("--training-price", type=float, help="USD per million training tokens (default: the price table)")
    c.add_argument("--suite", type=Path, help="suite whose prompted and tuned routes to compare for inference cost")
    c.add_argument("--prompted-route", help="the route the tuned one replaces (default: the suite's prompted route)")
    c.add_argument("--tuned-route", help="default: the suite's finetuned route")
    c.add_argument("--monthly-volume", type=int, help="calls per month, for the monthly cost change")
    c.add_argument("--json", action="store_true", help="print the estimate as JSON")
    c.set_defaults(handler=handle_estimate)

    k = ft.add_parser("leakage", help="holdout cases also in the train split, the few-shot pool or a training file")
    k.add_argument("suite", type=Path, help="suite YAML file")
    k.add_argument("--training-file", type=Path, help="also compare with this training JSONL")
    k.add_argument("--format", help="its format (default: guessed)")
    k.add_argument(
        "--route",
        help="route that renders holdout prompts for the training-file comparison (default: the finetuned one)",
    )
    k.add_argument(
        "--threshold",
        type=float,
        default=0.9,
        help="TF-IDF cosine at or above which two texts are near copies (default 0.9)",
    )
    k.add_argument("--json", action="store_true", help="print the leaks as JSON")
    k.set_defaults(handler=handle_leakage)

    la = ft.add_parser("launch", help="upload a training file and start a fine-tuning job")
    la.add_argument("file", type=Path, help="training JSONL")
    la.add_argument("--provider", required=True, help="openai, together, vertex, or a plugin's (evalkit.ft_launchers)")
    la.add_argument("--model", required=True, help="base model, as the provider names it")
    la.add_argument("--suffix", help="suffix of the tuned model's name")
    la.add_argument("--epochs", type=int, help="epochs (default: the provider's)")
    la.add_argument("--validation", type=Path, help="validation JSONL")
    la.add_argument("--format", help="training file format (default: guessed)")
    la.add_argument("--method", choices=["supervised", "dpo", "reinforcement"],
                    help="training method (default: the file format's: openai-rft files train by reinforcement)")
    la.add_argument("--grader", type=Path, help="reinforcement: the grader JSON (default: built from --suite)")
    la.add_argument(
        "--no-lora", dest="lora", action="store_false", help="full fine-tune where the provider offers LoRA (Together)"
    )
    la.add_argument(
        "--base-url", help="provider API base URL (default: OPENAI_BASE_URL / TOGETHER_BASE_URL, else the provider's)"
    )
    la.add_argument("--bucket", help="vertex: a Cloud Storage bucket evalkit uploads the training files to")
    la.add_argument("--training-uri", help="vertex: the gs:// URI you uploaded the training file to")
    la.add_argument("--validation-uri", help="vertex: the gs:// URI you uploaded the validation file to")
    la.add_argument(
        "--suite", type=Path, help="suite whose finetuned route `status` will fill in when the job succeeds"
    )
    la.add_argument("--route", help="that route (default: the suite's finetuned route)")
    la.add_argument("--json", action="store_true", help="print the job as JSON")
    la.set_defaults(handler=handle_launch)

    st = ft.add_parser("status", help="report a job and its events; on success fill in the suite's finetuned route")
    st.add_argument("job_id", help="job id that launch printed")
    st.add_argument("--provider", required=True, help="openai, together, or a plugin's")
    st.add_argument("--wait", action="store_true", help="poll until the job ends")
    st.add_argument("--interval", type=float, default=30.0, help="seconds between polls (default 30)")
    st.add_argument("--timeout", type=float, help="stop waiting after this many seconds")
    st.add_argument("--base-url", help="provider API base URL")
    st.add_argument("--suite", type=Path, help="suite to write the tuned model into (default: the one given to launch)")
    st.add_argument(
        "--route", help="its finetuned route (default: the one given to launch, else the suite's finetuned route)"
    )
    st.add_argument(
        "--training-file", type=Path, help="training file whose SHA-256 to record (default: launch's record)"
    )
    st.add_argument(
        "--print", dest="print_only", action="store_true", help="print the route's YAML instead of editing the suite"
    )
    st.add_argument("--json", action="store_true", help="print the job as JSON")
    st.set_defaults(handler=handle_status)


def _dump(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# ---------------------------------------------------------------- split


def handle_split(args) -> int:
    from tabulate import tabulate

    from evalkit.finetune.split import split_case_file

    result = split_case_file(args.cases, holdout=args.holdout, seed=args.seed, stratify=args.stratify,
                             label_field=args.label_field, out=args.out, dry_run=args.dry_run)
    if args.json:
        _dump({"path": str(result.path), "assigned": result.assigned, "counts": result.counts})
        return 0
    rows = [[label, c["train"], c["holdout"], c["new"]] for label, c in result.counts.items()]
    rows.append(["total", *(sum(c[k] for c in result.counts.values()) for k in ("train", "holdout", "new"))])
    print(tabulate(rows, headers=["label", "train", "holdout", "newly assigned"], tablefmt="simple"))
    if not result.assigned:
        print("every case already has a split: nothing to write")
    elif args.dry_run:
        print(f"dry run: {len(result.assigned)} case(s) would be assigned; nothing written")
    else:
        print(f"wrote {result.path} ({len(result.assigned)} case(s) assigned, seed {args.seed})")
    return 0


# ---------------------------------------------------------------- export


def handle_export(args) -> int:
    from evalkit.finetune.export import export_training_data
    from evalkit.suite import load_suite

    suite = load_suite(args.suite)
    grader = None
    if args.grader_out:
        from evalkit.finetune.rft import build_grader, reward_plan

        grader = build_grader(reward_plan(suite))
    result = export_training_data(
        suite,
        args.out,
        route=args.route,
        fmt=args.format,
        validation_out=args.validation_out,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        allow_leakage=args.allow_leakage,
        threshold=args.threshold,
    )
    report = result.report
    assert report is not None  # export_training validates the file it wrote
    if grader is not None:
        _write_json(args.grader_out, grader)
    if args.json:
        _dump(
            {
                "path": str(result.path),
                "format": result.format,
                "route": result.route,
                "n_examples": result.n_examples,
                "grader_path": str(args.grader_out) if grader is not None else None,
                "sha256": result.sha256,
                "validation_path": str(result.validation_path) if result.validation_path else None,
                "n_validation": result.n_validation,
                "validation_sha256": result.validation_sha256,
                "skipped": result.skipped,
                "leaks": [leak.describe() for leak in result.leaks],
                "billed_tokens": report.billed_tokens,
                "errors": len(report.errors),
                "warnings": result.warnings,
            }
        )
        return 0
    for leak in result.leaks:
        print(f"warning: {leak.describe()} (written anyway: --allow-leakage)", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {result.path}: {result.n_examples} examples ({result.format}, route {result.route!r})")
    print(f"  sha256 {result.sha256}")
    if result.validation_path:
        print(f"wrote {result.validation_path}: {result.n_validation} validation examples")
    if grader is not None:
        print(
            f"wrote {args.grader_out}: {grader['type']} grader "
            f"({', '.join(grader.get('graders', {})) or grader['name']})"
        )
    if result.skipped:
        print(f"  {len(result.skipped)} train case(s) without a rejected output were left out")
    print(f"  ~{report.billed_tokens} billed tokens per epoch; {len(report.errors)} format errors"
          + (f"; check with: evalkit ft validate {result.path}" if report.errors else ""))
    return 0


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reward


def handle_reward(args) -> int:
    from evalkit.finetune.rft import build_grader, reward_module_source, reward_plan
    from evalkit.suite import load_suite

    plan = reward_plan(load_suite(args.suite))
    if args.format == "trl":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(reward_module_source(plan), encoding="utf-8")
        print(f"wrote {args.out}: reward(prompts, completions, **columns) for TRL's GRPOTrainer; "
              f"dataset columns {', '.join(plan.reference_keys) or 'none'}")
    else:
        grader = build_grader(plan)
        _write_json(args.out, grader)
        print(f"wrote {args.out}: {grader['type']} grader")
    weights = ", ".join(f"{c.path} {c.weight:g}" for c in plan.components)
    print(f"  rewards: {weights} (0 for an answer that does not parse)")
    for note in plan.left_out:
        print(f"  not rewarded: {note}")
    return 0


# ---------------------------------------------------------------- validate


def _distribution_rows(report) -> list[list]:
    from evalkit.finetune.validate import distribution

    rows = []
    for name, values in (
        ("messages per example", report.messages_per_example),
        ("tokens per example", report.tokens_per_example),
        ("assistant tokens per example", report.assistant_tokens_per_example),
    ):
        d = distribution(values)
        if d:
            rows.append(
                [name, d["min"], d["max"], round(d["mean"], 1), d["median"], round(d["p10"], 1), round(d["p90"], 1)]
            )
    return rows


def print_report(report) -> None:
    from tabulate import tabulate

    counter = report.counter
    limit = f"{counter.limit:,}-token limit" if counter.limit else "no known token limit"
    note = " (approximate: not this model's tokenizer)" if counter.approximate else ""
    print(f"{report.path}: {report.n_examples} examples, format {report.format}, {counter.encoding}{note}, {limit}")
    if report.errors:
        print("Found errors: " + ", ".join(f"{kind}: {n}" for kind, n in report.error_counts.items()))
        for problem in report.errors:
            print(f"  {_at(problem)}: {problem.kind}: {problem.message}")
    else:
        print("No format errors")
    if report.warnings:
        print(
            f"Warnings: {report.missing_system} without a system message, "
            f"{report.missing_user} without a user message, "
            f"{len(report.over_limit_lines)} over the token limit"
        )
        for problem in report.warnings:
            print(f"  {_at(problem)}: {problem.kind}: {problem.message}")
    rows = _distribution_rows(report)
    if rows:
        print()
        print(tabulate(rows, headers=["", "min", "max", "mean", "median", "p10", "p90"], tablefmt="simple"))
        print()
        print(f"~{report.billed_tokens} tokens will be billed per epoch (each example counted up to the limit)")
        print(f"default epochs: {report.default_epochs} for {report.n_examples} examples")
        print(f"~{report.charged_tokens} tokens charged at the default epochs")
        if report.format == "openai-rft":
            print("note: reinforcement fine-tuning is billed by training time, not tokens: these figures only orient")


def _at(problem) -> str:
    return "file" if problem.line == 0 else f"line {problem.line}"


def handle_validate(args) -> int:
    from evalkit.finetune.validate import validate_file

    grader = None
    if args.grader:
        from evalkit.finetune.rft import load_grader

        grader = load_grader(args.grader)
    report = validate_file(args.file, args.format, args.model, validation=args.validation, grader=grader)
    if args.json:
        _dump(report.to_dict())
    else:
        print_report(report)
    return 0 if report.ok else 1


# ---------------------------------------------------------------- estimate


def handle_estimate(args) -> int:
    from evalkit.finetune.estimate import estimate_inference, estimate_training, training_price
    from evalkit.finetune.validate import validate_file
    from evalkit.report.format import usd

    suite = None
    if args.suite:
        from evalkit.suite import load_suite

        suite = load_suite(args.suite)
    report = validate_file(args.file, args.format, args.model)
    price = (
        args.training_price
        if args.training_price is not None
        else training_price(args.model, suite.spec.pricing if suite else None)
    )
    training = estimate_training(report, args.model, epochs=args.epochs, price_per_mtok=price)
    inference = estimate_inference(suite, prompted=args.prompted_route, tuned=args.tuned_route,
                                   monthly_volume=args.monthly_volume) if suite else None
    if args.json:
        _dump({"training": training.to_dict(), "inference": inference.to_dict() if inference else None,
               "format_errors": len(report.errors)})
        return 0
    price_text = (
        "unknown (no training price for this model: pass --training-price)" if price is None else f"${price}/M tokens"
    )
    print(
        f"training {training.model}: {training.billed_tokens} billed tokens x {training.epochs} epochs "
        f"({training.epochs_rule})"
        f" = {training.charged_tokens} tokens at {price_text}"
    )
    print(f"training cost: {usd(training.cost_usd)}")
    if report.errors:
        print(
            f"warning: the file has {len(report.errors)} format errors (evalkit ft validate {args.file})",
            file=sys.stderr,
        )
    if inference:
        print_inference(inference)
    return 0


def print_inference(inference) -> None:
    from tabulate import tabulate

    from evalkit.report.format import usd

    rows = [[r.route, r.model, round(r.input_tokens_mean, 1), round(r.output_tokens_mean, 1), usd(r.cost_per_1k_usd)]
            for r in (inference.prompted, inference.tuned)]
    print()
    print(f"inference over {inference.tuned.n_cases} holdout cases:")
    print(
        tabulate(
            rows, headers=["route", "model", "prompt tokens", "answer tokens", "cost per 1,000"], tablefmt="simple"
        )
    )
    print(f"prompt tokens per call: {inference.delta_input_tokens:+.1f}; cost change per 1,000 calls: "
          f"{'unknown' if inference.delta_per_1k_usd is None else f'{inference.delta_per_1k_usd:+,.4f} USD'}")
    if inference.monthly_volume is not None:
        monthly = inference.delta_monthly_usd
        print(
            f"at {inference.monthly_volume:,} calls a month: "
            f"{'unknown' if monthly is None else f'{monthly:+,.2f} USD'} a month"
        )


# ---------------------------------------------------------------- leakage


def handle_leakage(args) -> int:
    from evalkit.finetune.leakage import suite_leaks
    from evalkit.suite import load_suite

    suite = load_suite(args.suite)
    leaks = suite_leaks(
        suite, training_file=args.training_file, fmt=args.format, route=args.route, threshold=args.threshold
    )
    if args.json:
        _dump([{"holdout_id": leak.holdout_id, "other_id": leak.other_id, "source": leak.source, "kind": leak.match,
                "similarity": leak.similarity} for leak in leaks])
    elif leaks:
        print(f"{len(leaks)} leak(s): holdout cases also in the training data")
        for leak in leaks:
            print(f"  {leak.describe()}")
    else:
        sources = "the train split" + (f" and {args.training_file}" if args.training_file else "")
        print(
            f"no leaks: no holdout case of {len(suite.holdout)} matches {sources} "
            f"(exact, or cosine >= {args.threshold})"
        )
    return 1 if leaks else 0


# ---------------------------------------------------------------- launch and status


def _state_dict(state) -> dict:
    return {
        "id": state.id,
        "status": state.status,
        "provider_status": state.provider_status,
        "base_model": state.base_model,
        "fine_tuned_model": state.fine_tuned_model,
        "training_file_id": state.training_file_id,
        "error": state.error,
    }


def handle_launch(args) -> int:
    from evalkit.finetune.launch import launch_job

    state, record = launch_job(args.file, args.provider, args.model, suffix=args.suffix, epochs=args.epochs,
                               validation=args.validation, fmt=args.format, lora=args.lora, base_url=args.base_url,
                               method=args.method, grader=args.grader,
                               suite=args.suite, route=args.route, bucket=args.bucket, training_uri=args.training_uri,
                               validation_uri=args.validation_uri)
    if args.json:
        _dump({**_state_dict(state), "training_file_sha256": record.training_file_sha256})
        return 0
    print(f"{args.provider} job {state.id} created: {state.provider_status} (base model {record.base_model})")
    print(f"  training file {record.training_file} sha256 {record.training_file_sha256}")
    print(f"follow it with: evalkit ft status {state.id} --provider {args.provider} --wait")
    return 0


def handle_status(args) -> int:
    from evalkit.finetune.launch import follow_job, load_record, route_fields

    record = load_record(args.provider, args.job_id)
    quiet = args.json
    state = follow_job(args.provider, args.job_id, wait=args.wait, interval=args.interval, timeout=args.timeout,
                       base_url=args.base_url or (record.base_url if record else None),
                       on_event=lambda e: None if quiet else print(f"  [{e.level}] {e.message}"))
    result = _state_dict(state)
    code = 0
    if state.status == "succeeded":
        fields = route_fields(
            args.provider,
            state,
            record,
            args.base_url,
            args.training_file,
            prices=_suite_prices(args.suite or (Path(record.suite) if record and record.suite else None)),
        )
        result["route_fields"] = fields
        _finish(args, record, fields, result)
    elif state.status in ("failed", "cancelled"):
        code = 1
    elif args.wait:
        result.setdefault("notes", []).append(f"still {state.status} after --timeout {args.timeout:g} s")
        code = 3
    if args.json:
        _dump(result)
    else:
        print(f"{args.provider} job {state.id}: {state.status} ({state.provider_status})"
              + (f": {state.error}" if state.error else "")
              + (f"; model {state.fine_tuned_model}" if state.fine_tuned_model else ""))
        for line in result.get("notes", []):
            print(line)
    return code


def _suite_prices(suite_path: Path | None):
    """The suite's own price overrides, or None (no suite, or one that does not load: the
    shipped table then prices the training)."""
    if suite_path is None:
        return None
    from evalkit.errors import BadInput
    from evalkit.suite import load_suite

    try:
        return load_suite(suite_path).spec.pricing
    except BadInput:
        return None


def _finish(args, record, fields: dict, result: dict) -> None:
    """Write the tuned model into the suite's route, or print the YAML to paste."""
    from evalkit.errors import BadInput
    from evalkit.finetune.export import pick_route
    from evalkit.finetune.suite_edit import route_yaml, write_route

    notes = result.setdefault("notes", [])
    if "training_file_sha256" not in fields:
        notes.append("note: no record of the training file: pass --training-file to record its SHA-256")
    suite_path = args.suite or (Path(record.suite) if record and record.suite else None)
    route = args.route or (record.route if record else None)
    if suite_path is None or args.print_only:
        notes.append(
            "paste under `routes:` in the suite:" if suite_path is None or not route else f"set route {route!r} to:"
        )
        notes.append(route_yaml(route or "tuned", fields).rstrip("\n"))
        return
    if route is None:
        from evalkit.suite import load_suite

        route = pick_route(load_suite(suite_path), None)
    try:
        write_route(suite_path, route, fields)
    except BadInput:
        print(f"the job succeeded; set route {route!r} of {suite_path} by hand:\n{route_yaml(route, fields)}")
        raise
    result["suite"], result["route"] = str(suite_path), route
    notes.append(f"wrote {', '.join(fields)} into route {route!r} of {suite_path}")
