#!/usr/bin/python
# Copyright: the tcptune authors. MIT OR Apache-2.0.
"""Ansible module for tcptune: apply, check or revert a TCP tuning profile.

Drop this file into a playbook's `library/` directory (or a collection's
plugins/modules/). It runs the tcptune binary with `--format json` and
never parses English.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tcptune
short_description: Apply, check or revert a tcptune TCP tuning profile
description:
  - Makes the kernel's TCP connection-handling sysctls match a tcptune
    profile, now (live values, each read back) and after reboot (one
    sysctl.d file that tcptune verifies will win at boot), or checks for
    drift, or puts back what the host had before tcptune.
  - Runs the tcptune binary with C(--format json); the result carries
    tcptune's own plan, and a failure carries tcptune's own message.
  - Supports check mode (reports C(changed) and the drift without touching
    anything) and diff mode (the sysctl.d file and the live values, before
    and after).
options:
  profile:
    description:
      - A profile name (built in, or in /etc/tcptune/profiles), C(builtin:NAME),
        or a path to a profile file.
      - Required unless I(state=reverted).
    type: str
  state:
    description:
      - C(applied) makes the host match the profile (tcptune apply).
      - C(checked) only reports drift (tcptune check); it never changes anything.
      - C(reverted) puts back the values and files the host had before
        tcptune's first apply (tcptune revert).
    type: str
    choices: [applied, checked, reverted]
    default: applied
  file:
    description:
      - The sysctl.d file to write, a C(*.conf) directly in /etc/sysctl.d,
        /run/sysctl.d or /usr/local/lib/sysctl.d.
      - Default C(/etc/sysctl.d/99-zz-tcptune.conf).
    type: path
  force:
    description:
      - Write the file even though another file would still override it at
        boot (the drift at boot then remains, and is reported).
    type: bool
    default: false
  live_only:
    description: Set the live values only; write no file (lost at reboot).
    type: bool
    default: false
  persist_only:
    description: Write the file only, not the live values (image builds).
    type: bool
    default: false
  tcptune:
    description: The tcptune binary.
    type: path
    default: tcptune
author:
  - tcptune authors
"""

EXAMPLES = r"""
- name: TCP tuning for a busy HTTP front end
  tcptune:
    profile: web-server

- name: Report drift from the web-server profile, change nothing
  tcptune:
    profile: web-server
    state: checked
  register: tcp
  failed_when: tcp.drift | length > 0

- name: Our own profile, only the live values (containers)
  tcptune:
    profile: /etc/tcptune/profiles/ours.yaml
    live_only: true

- name: Back to the host as it was before tcptune
  tcptune:
    state: reverted
"""

RETURN = r"""
changed:
  description: Whether tcptune changed (or, in check mode, would change) anything.
  returned: always
  type: bool
msg:
  description: tcptune's own summary of what it did, or its error.
  returned: always
  type: str
result:
  description: >-
    tcptune's result: applied, reverted, nothing-to-do, dry-run; for
    state=checked, in-sync or drift.
  returned: always
  type: str
drift:
  description: Every key that differs from the profile, live or at boot.
  returned: when a profile is given
  type: list
  elements: dict
  contains:
    key:
      description: The sysctl, e.g. net.ipv4.tcp_synack_retries.
      type: str
    live:
      description: The live value (kernel text), null when absent.
      type: str
    target:
      description: The profile's target (a value, or ">= N" / "<= N").
      type: str
    status:
      description: change, not-live-yet, lost-at-reboot, overridden-at-boot.
      type: str
    boot:
      description: What loads at boot, with the file and line that decides it.
      type: str
live:
  description: The live values written (or that would be), with before and after.
  returned: state=applied or state=reverted
  type: list
  elements: dict
files:
  description: The sysctl.d files written or removed, with before and after text.
  returned: state=applied or state=reverted
  type: list
  elements: dict
tcptune:
  description: tcptune's whole JSON document (schema 2).
  returned: always
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule


def target_text(target):
    if target.get("value") is not None:
        return target["value"]
    parts = []
    if target.get("at_least") is not None:
        parts.append(">= " + target["at_least"])
    if target.get("at_most") is not None:
        parts.append("<= " + target["at_most"])
    return " and ".join(parts)


def boot_text(boot):
    if not boot:
        return None
    if boot.get("unknown"):
        return "unknown"
    if boot.get("file"):
        return "%s from %s:%s" % (boot.get("value"), boot["file"], boot["line"])
    if boot.get("value") is not None:
        return "%s (kernel default)" % boot["value"]
    return None


def drift_of(plan):
    """The drifted entries of a tcptune plan document."""
    out = []
    for e in plan.get("entries", []):
        if e["drift"]["live"] or e["drift"]["boot"]:
            out.append({
                "key": e["key"],
                "live": e["live"],
                "target": target_text(e["target"]),
                "status": e["status"],
                "boot": boot_text(e.get("boot")),
            })
    return out


def diffs_of(doc):
    """Ansible diffs: each file's text, and the live values, before and after."""
    diffs = []
    for f in doc.get("files", []):
        if f["changed"]:
            diffs.append({
                "before_header": f["path"] + (" (now)" if f["before"] is not None else " (absent)"),
                "after_header": f["path"] + (" (after)" if f["after"] is not None else " (removed)"),
                "before": f["before"] or "",
                "after": f["after"] or "",
            })
    if doc.get("live"):
        diffs.append({
            "before_header": "live values (now)",
            "after_header": "live values (after)",
            "before": "".join("%s = %s\n" % (w["key"], w["before"]) for w in doc["live"]),
            "after": "".join("%s = %s\n" % (w["key"], w["after"]) for w in doc["live"]),
        })
    return diffs


def run_tcptune(module, args):
    """Runs tcptune with --format json; (rc, document). Fails the task on
    exit 2 (or a signal) with tcptune's own message."""
    cmd = [module.params["tcptune"]] + args + ["--format", "json"]
    rc, out, err = module.run_command(cmd)
    try:
        doc = json.loads(out) if out.strip() else {}
    except ValueError:
        doc = {}
    if rc not in (0, 1) or "error" in doc:
        message = doc.get("error", {}).get("message") or err.strip() or out.strip()
        module.fail_json(msg=message, rc=rc, cmd=cmd, tcptune=doc, stderr=err)
    return rc, doc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="str"),
            state=dict(type="str", default="applied", choices=["applied", "checked", "reverted"]),
            file=dict(type="path"),
            force=dict(type="bool", default=False),
            live_only=dict(type="bool", default=False),
            persist_only=dict(type="bool", default=False),
            tcptune=dict(type="path", default="tcptune"),
        ),
        required_if=[("state", "applied", ["profile"]), ("state", "checked", ["profile"])],
        mutually_exclusive=[("live_only", "persist_only")],
        supports_check_mode=True,
    )
    p = module.params
    state = p["state"]

    if state == "checked":
        args = ["check", p["profile"]]
        if p["live_only"]:
            args.append("--live-only")
        if p["persist_only"]:
            args.append("--boot-only")
        rc, doc = run_tcptune(module, args)
        drift = drift_of(doc)
        module.exit_json(
            changed=False,
            result="drift" if rc == 1 else "in-sync",
            drift=drift,
            msg="%d key(s) drift from %s" % (len(drift), p["profile"]) if drift else "in sync with %s" % p["profile"],
            tcptune=doc,
        )

    if state == "reverted":
        args = ["revert", "--dry-run" if module.check_mode else "--yes"]
        _, doc = run_tcptune(module, args)
        changed = bool(doc.get("live")) or any(f["changed"] for f in doc.get("files", []))
        result = dict(changed=changed, result=doc.get("result"), msg=doc.get("message", ""),
                      live=doc.get("live", []), files=doc.get("files", []), tcptune=doc)
        if module._diff:
            result["diff"] = diffs_of(doc)
        module.exit_json(**result)

    args = ["apply", p["profile"], "--dry-run" if module.check_mode else "--yes"]
    if p["file"]:
        args += ["--file", p["file"]]
    for flag in ("force", "live_only", "persist_only"):
        if p[flag]:
            args.append("--" + flag.replace("_", "-"))
    _, doc = run_tcptune(module, args)
    changed = doc.get("result") in ("applied", "dry-run")
    result = dict(
        changed=changed,
        result=doc.get("result"),
        msg=doc.get("message", ""),
        drift=drift_of(doc.get("plan", {})),
        live=doc.get("live", []),
        files=doc.get("files", []),
        tcptune=doc,
    )
    if module._diff:
        result["diff"] = diffs_of(doc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
