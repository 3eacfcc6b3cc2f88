"""``facade policy check FILE``: validate an ops policy and show what it decides on this device."""

from __future__ import annotations

from facade.cli import add_json_flag
from facade.cli.output import emit
from facade.devices import devices
from facade.policy import decide, find_policy_file, load_policy
from facade.tables import format_table


def register(sub) -> None:
    p = sub.add_parser("policy", help="validate an ops policy file and show which rules hold here")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    c = psub.add_parser("check", help="validate FILE (default: the file in effect) and show its rules")
    c.add_argument("file", nargs="?", help="policy file (TOML, or YAML with PyYAML)")
    add_json_flag(c)
    c.set_defaults(handler=cmd_check)


def cmd_check(args) -> int:
    path = args.file or find_policy_file()
    if path is None:
        emit(args, {"valid": True, "source": None, "rules": []},
             lambda: "no policy file in effect (FACADE_POLICY, facade.toml, .facade/policy.toml, user config)")
        return 0
    policy = load_policy(path)
    decision = decide(list(policy.rules), policy.source, devices(), None)
    held = {id(r) for r in decision.matched}
    why = {id(r): w for r, w in decision.unmatched}
    rows = [{"rule": r.label, "line": r.line, "holds_here": id(r) in held,
             "why_not": why.get(id(r), ""), "deny": list(r.deny), "allow": list(r.allow),
             "prefer": list(r.prefer), "precision": r.precision, "select": r.select} for r in policy.rules]
    data = {"valid": True, "source": policy.source, "rules": rows}

    def text() -> str:
        table = [(r["rule"], r["line"] or "-", "yes" if r["holds_here"] else f"no ({r['why_not']})",
                  "; ".join(f"{k} {r[k]}" for k in ("deny", "allow", "prefer", "precision", "select") if r[k]))
                 for r in rows]
        return "\n".join([f"{policy.source}: valid, {len(rows)} layer(s)", "",
                          *format_table(("rule", "line", "holds on this device", "actions"), table)])

    emit(args, data, text)
    return 0
