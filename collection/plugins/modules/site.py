#!/usr/bin/python
# MIT License (see the apachemaint repository)
"""apachemaint.apache.site: a vhost's maintenance window (and its managed block) as desired state."""
DOCUMENTATION = r"""
---
module: site
short_description: Put an Apache vhost into maintenance mode with apachemaint
version_added: "0.1.0"
description:
  - Runs the apachemaint CLI on the target to open or end a maintenance window (O(state=down), O(state=up)),
    or to add or remove the managed maintenance block of vhost files (O(state=patched), O(state=unpatched)).
  - Idempotent. A second O(state=down) with the same O(reason) and O(until) reports no change (a relative
    O(until) such as V(30m) is compared as given, so a re-run does not push the end back); a different
    reason or end renders the page again.
  - Check mode predicts the change; diff mode shows the page change (down, up) or the vhost change (patched).
  - The status after the run (what C(apachemaint status --json) says) is returned as the fact C(apachemaint).
  - apachemaint must be installed on the target (see O(apachemaint)); this collection does not install it.
options:
  state:
    description:
      - V(down) opens (or updates) a window, V(up) ends it, V(patched) adds or updates the managed block of
        O(vhosts), V(unpatched) removes it (needs an apachemaint that has C(apachemaint unpatch)).
      - V(patched) and V(unpatched) do not reload Apache; notify a handler that runs C(apachectl graceful).
    type: str
    choices: [down, up, patched, unpatched]
    default: down
  docroot:
    description: The site's DocumentRoot (the page goes to DOCROOT/system/maintenance.html). Give this or O(vhost).
    type: path
  vhost:
    description: A patched vhost file; the page goes where its block looks. Give this or O(docroot).
    type: path
  vhosts:
    description: Vhost files for O(state=patched) and O(state=unpatched); defaults to O(vhost).
    type: list
    elements: path
  reason:
    description: Why the site is down, shown on the page.
    type: str
    default: ""
  until:
    description: When it is expected back (V(30m), V(2h), V(18:30), an ISO 8601 time).
    type: str
  template:
    description:
      - Your own Jinja2 page template (a path on the target).
      - A window already open with the same O(reason) and O(until) is not rendered again when only the template
        changed; end it (O(state=up)) or change the reason to publish a new page.
    type: path
  langs:
    description:
      - The page's languages, the first the default (V(en) when not given). With one, the page is in that
        language (C(--lang)); with several, a page per language and Apache picks by Accept-Language (C(--langs),
        needs mod_negotiation on the target).
      - A window already open in other languages is rendered again (a change).
    type: list
    elements: str
  bypass:
    description: Make a bypass token for this window (always a change, since every token is new). It is in RV(stdout).
    type: bool
    default: false
  bypass_token:
    description:
      - This window's bypass token, the same on every host (16-128 of A-Za-z0-9_-), so one cookie or the secret URL
        C(/.apachemaint/bypass/TOKEN) covers the fleet. Always a change, as O(bypass) is.
    type: str
  verify:
    description:
      - After down or up, ask every name of every vhost behind the page, on every address, whether it answers
        as it should (C(apachemaint down --verify)). The task fails when one does not.
    type: bool
    default: false
  verify_url:
    description: After down or up, ask this one URL instead.
    type: str
  config:
    description: Main server config, for the config test of O(state=patched) and for O(verify).
    type: path
  configtest:
    description: Run Apache's config test after patching (the files are restored if it fails).
    type: bool
    default: true
  patch_args:
    description: Further options of C(apachemaint patch), e.g. V(--allow-path=/up) or V(--bypass-cookie=NAME).
    type: list
    elements: str
    default: []
  apachemaint:
    description:
      - How to run apachemaint on the target, as a list (an interpreter and C(-m apachemaint) works too).
    type: list
    elements: str
    default: [apachemaint]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author:
  - apachemaint
"""

EXAMPLES = r"""
- name: Maintenance on
  apachemaint.apache.site:
    docroot: /srv/shop/current/public
    state: down
    reason: database upgrade
    until: 30m
    langs: [en, de]

- name: Patch the vhost (then reload Apache)
  apachemaint.apache.site:
    state: patched
    vhosts: [/etc/apache2/sites-available/shop.conf]
    patch_args: [--allow-path=/up]
  notify: Reload Apache

- name: Maintenance off
  apachemaint.apache.site:
    docroot: /srv/shop/current/public
    state: up
"""

RETURN = r"""
status:
  description: What C(apachemaint status --json) says after the run (a list when the vhost has several pages).
  returned: when O(docroot) or O(vhost) is given
  type: raw
stdout:
  description: What apachemaint printed (the bypass token, the patch report).
  returned: when apachemaint ran
  type: str
ansible_facts:
  description: C(apachemaint), the same as RV(status).
  returned: when O(docroot) or O(vhost) is given
  type: dict
"""

# Ansible reads the docs above without importing; its convention puts the imports after them.
import json  # noqa: E402
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

PAGE_LIMIT = 1 << 20  # what diff mode shows of a page; more is not a maintenance page


class Cli:
    def __init__(self, module):
        self.module = module
        self.base = list(module.params["apachemaint"])

    def run(self, *args, ok=(0,), data=None):
        argv = self.base + list(args)
        rc, out, err = self.module.run_command(argv, data=data)
        if rc not in ok:
            self.module.fail_json(msg=f"apachemaint {args[0]} failed (exit {rc}): {(err or out).strip()}",
                                  rc=rc, stdout=out, stderr=err, cmd=argv)
        return rc, out

    def has(self, command):
        rc, _out, _err = self.module.run_command(self.base + [command, "--help"])
        return rc == 0


def target_args(params):
    if params["docroot"]:
        return ["--docroot", params["docroot"]]
    if params["vhost"]:
        return ["--vhost", params["vhost"]]
    return []


def status(cli, target):
    _rc, out = cli.run("status", "--json", *target, ok=(0, 3))
    try:
        states = json.loads(out)
    except ValueError:
        cli.module.fail_json(msg=f"apachemaint status --json printed no JSON: {out[:200]}")
    return states


def as_list(states):
    return states if isinstance(states, list) else [states]


def read_page(path):
    # The page sits in a docroot that deploy users write; never follow their link as root.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(PAGE_LIMIT).decode("utf-8", "replace")


def same_window(states, reason, until, langs):
    # until_given is the end as asked ("30m"); `until` is the end worked out from it, which a re-run
    # asking "30m" again would never match. A re-run keeps the window: it does not push the end back.
    # An apachemaint that does not report langs cannot tell: its window is taken as it is.
    return all(s["maintenance"] and (s.get("reason") or "") == reason
               and (s.get("until_given", s.get("until")) or "") == until
               and (s.get("langs") or langs) == langs for s in as_list(states))


def wanted_langs(params):
    return [code.strip() for code in params["langs"] or [] if code.strip()] or ["en"]


def lang_args(params, render=False):
    langs = wanted_langs(params)
    if render or len(langs) == 1:  # render makes the default language's page, the one the flag holds
        return ["--lang", langs[0]]
    return ["--langs", ",".join(langs)]


def down_args(params, render=False):
    p = params
    args = ["--reason", p["reason"]]
    if p["until"]:
        args += ["--until", p["until"]]
    if p["template"]:
        args += ["--template", p["template"]]
    return args + lang_args(p, render)


def proof_args(params):
    args = []
    if params["verify_url"]:
        args += ["--verify-url", params["verify_url"]]
    elif params["verify"]:
        args.append("--verify")
    if args and params["config"]:
        args += ["--config", params["config"]]
    return args


def window(module, cli, target):
    p = module.params
    before = status(cli, target)
    pages = [s["page"] for s in as_list(before)]
    old = "".join(read_page(page) for page in pages if page) if any(s["maintenance"] for s in as_list(before)) \
        else ""
    reason, until = p["reason"].strip(), (p["until"] or "").strip()
    if p["state"] == "down":
        changed = p["bypass"] or bool(p["bypass_token"]) or not same_window(before, reason, until, wanted_langs(p))
    else:
        changed = any(s["maintenance"] for s in as_list(before))
    result = {"changed": changed}
    if changed and module._diff:
        new = ""
        if p["state"] == "down":
            new = cli.run("render", *down_args(p, render=True))[1] * len(pages)
        result["diff"] = {"before": old, "after": new,
                          "before_header": ", ".join(pages), "after_header": ", ".join(pages)}
    if changed and not module.check_mode:
        command = ["down"] + target + down_args(p) + (["--bypass"] if p["bypass"] else []) \
            + (["--bypass-token-file", "-"] if p["bypass_token"] else []) \
            if p["state"] == "down" else ["up"] + target
        # The token goes on stdin: a command line shows in ps and in sudo's log.
        token = p["bypass_token"] if p["state"] == "down" and p["bypass_token"] else None
        result["stdout"] = cli.run(*command + proof_args(p), data=token)[1]
    after = status(cli, target) if not module.check_mode else before
    result.update(status=after, ansible_facts={"apachemaint": after})
    return result


def block(module, cli):
    p = module.params
    files = p["vhosts"] or ([p["vhost"]] if p["vhost"] else [])
    if not files:
        module.fail_json(msg=f"state={p['state']} needs vhosts (or vhost)")
    command = "patch" if p["state"] == "patched" else "unpatch"
    if command == "unpatch" and not cli.has("unpatch"):
        module.fail_json(msg="state=unpatched needs `apachemaint unpatch`, which the apachemaint on this host "
                             "does not have; upgrade apachemaint, or restore the vhost with `apachemaint restore`")
    args = list(p["patch_args"]) if command == "patch" else []
    test = (["--config", p["config"]] if p["config"] else []) + ([] if p["configtest"] else ["--no-configtest"])
    rc, _out = cli.run(command, "--check", *args + files, ok=(0, 1))
    result = {"changed": rc == 1}
    if rc == 1 and module._diff:
        result["diff"] = {"prepared": cli.run(command, "--diff", *args + files)[1]}
    if rc == 1 and not module.check_mode:
        result["stdout"] = cli.run(command, *args + test + files)[1]
    target = target_args(p)
    if target and not module.check_mode:
        after = status(cli, target)
        result.update(status=after, ansible_facts={"apachemaint": after})
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "down", "choices": ["down", "up", "patched", "unpatched"]},
            "docroot": {"type": "path"},
            "vhost": {"type": "path"},
            "vhosts": {"type": "list", "elements": "path"},
            "reason": {"type": "str", "default": ""},
            "until": {"type": "str"},
            "template": {"type": "path"},
            "langs": {"type": "list", "elements": "str"},
            "bypass": {"type": "bool", "default": False},
            "bypass_token": {"type": "str", "no_log": True},
            "verify": {"type": "bool", "default": False},
            "verify_url": {"type": "str"},
            "config": {"type": "path"},
            "configtest": {"type": "bool", "default": True},
            "patch_args": {"type": "list", "elements": "str", "default": []},
            "apachemaint": {"type": "list", "elements": "str", "default": ["apachemaint"]},
        },
        mutually_exclusive=[("docroot", "vhost")],
        required_if=[("state", "down", ("docroot", "vhost"), True), ("state", "up", ("docroot", "vhost"), True)],
        supports_check_mode=True,
    )
    cli = Cli(module)
    if module.params["state"] in ("down", "up"):
        result = window(module, cli, target_args(module.params))
    else:
        result = block(module, cli)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
