"""``facade devices`` and ``facade targets``: what this machine has and what can run on it."""

from __future__ import annotations

from facade import all_targets, probe, target_availability, target_info
from facade.cli import add_json_flag
from facade.cli.output import emit
from facade.devices import devices
from facade.tables import format_table


def register(sub) -> None:
    p = sub.add_parser("devices", help="show detected device facts (CPU, GPUs, NPUs) and the fingerprint")
    add_json_flag(p)
    p.set_defaults(handler=cmd_devices)
    p = sub.add_parser("targets", help="every known target, available or not, with the reason")
    p.add_argument("--probe", action="store_true",
                   help="probe crash-prone targets not probed yet on this device (in child processes)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_targets)


def cmd_devices(args) -> int:
    facts = devices()

    def text() -> str:
        rows = [
            ("os", facts.os + (f" (API {facts.android_api})" if facts.android_api else "")),
            ("arch", facts.arch),
            ("cpu", f"{facts.cpu_model}, {facts.cores} cores, big cluster {facts.big_cores}"),
            ("clusters", " | ".join(",".join(map(str, c)) for c in facts.clusters)),
            ("features", " ".join(facts.cpu_features) or "-"),
            *((f"{g.api}", f"{g.name} [{g.type}{', software' if g.software else ''}]") for g in facts.gpus),
            *(("accelerator", f"{a.kind}: {a.detail}") for a in facts.accelerators),
            *(("probe error", e) for e in facts.probe_errors),
            ("fingerprint", facts.fingerprint),
        ]
        return "\n".join(format_table(("fact", "value"), rows))

    emit(args, facts.to_dict(), text)
    return 0


def target_rows(run_probes: bool = False) -> list[dict]:
    """Every target with availability, hardware class, reason and crash-probe verdict, as the CLI shows them."""
    facts = devices()
    rows = []
    for name in all_targets():
        avail, hardware, note = target_availability(name, facts)
        verdict = None
        if avail and probe.needs_probe(name):
            verdict = probe.ensure(name, facts) if run_probes else probe.cached(name, facts)
        rows.append({"target": name, "engine": target_info(name).engine, "available": avail.ok,
                     "hardware": hardware.name.lower(), "reason": avail.reason + (f"; {note}" if note else ""),
                     "probe": verdict.status if verdict else ("not probed yet" if avail and probe.needs_probe(name)
                                                              else "-"),
                     "probe_reason": verdict.reason if verdict else ""})
    return rows


def cmd_targets(args) -> int:
    rows = target_rows(args.probe)
    emit(args, rows, lambda: "\n".join(format_table(
        ("target", "available", "class", "probe", "reason"),
        [(r["target"], "yes" if r["available"] else "no", r["hardware"], r["probe"],
          r["reason"] + (f"; probe: {r['probe_reason']}" if r["probe_reason"] else "")) for r in rows])))
    return 0
