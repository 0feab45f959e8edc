"""`make mutate`: mutation testing of the modules that guard data or the contract, one module at a time.

For each module named in scripts/mutation.toml, mutmut (pinned in the dev lock) mutates that module alone in a
fresh mutants/ copy and runs each mutant against the tests that call the mutated function. mutmut only sees
calls made in its own process, so every mutant that outlives those tests (or that no test calls in-process: code
that runs only in a test's subprocess) is run again against the module's whole test list, subprocess tests
included; the subprocesses import the mutated copy and inherit MUTANT_UNDER_TEST, so they run the mutant too.

The score is killed / all mutants: survivors judged equivalent (listed in mutation.toml with the reason, and
matched by the change they make, so an entry goes stale when the code moves) still count against it. The table
goes to test-artifacts/mutation.md (with every survivor's diff) and, with --docs, to docs/testing.md; the run
fails when a module scores below its target.

The modules run only when named need a Cassandra node: one is started for the whole run (`scripts.cassandra_node
serve`), and every test session, mutmut's and the re-runs', uses it through CASSANDRA_TEST_NODE.

    .venv/bin/python -m scripts.mutate [--ci] [--docs] [--max-children 2] [MODULE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scripts" / "mutation.toml"
MUTANTS = ROOT / "mutants"
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs" / "testing.md"
DOCS_BEGIN, DOCS_END = "<!-- mutation-table:begin -->", "<!-- mutation-table:end -->"
EQUIVALENT_BEGIN, EQUIVALENT_END = "<!-- mutation-equivalent:begin -->", "<!-- mutation-equivalent:end -->"
FAST_TIER = "not (ring or spark or e2e or cassandra or training or deploy)"
# a mutant re-run against the whole list fails it within this; beyond it, it hangs (a loop that never ends): killed
RERUN_TIMEOUT_S = 300
SHARED_NODE_HEAP = "2G"  # the Cassandra node all of a module's sessions share
NO_MUTANT = "none"  # a name no mutant has: every mutated function runs its original


@dataclasses.dataclass(frozen=True)
class Module:
    name: str
    path: str
    tests: tuple[str, ...]
    target: float
    ci: bool
    markers: str
    only_when_named: bool  # slow: needs a Cassandra node, started for the run only when such a module is named

    @property
    def prefix(self) -> str:
        """mutmut's name for the module's mutants: ``service.http.params.x_name__mutmut_3``."""
        return self.path.removesuffix(".py").replace("/", ".") + "."


@dataclasses.dataclass(frozen=True)
class Equivalent:
    mutant: str
    change: tuple[str, ...]  # the diff's -/+ lines, stripped: the entry matches only while the mutant is that change
    reason: str


@dataclasses.dataclass
class Result:
    module: Module
    total: int = 0
    killed: int = 0  # by mutmut's run (a timeout or crash of the tests is a kill)
    killed_on_rerun: int = 0  # survived mutmut's in-process mapping, failed the whole list
    equivalent: list[str] = dataclasses.field(default_factory=list)
    survivors: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> diff, not judged equivalent
    stale: list[str] = dataclasses.field(default_factory=list)  # equivalents listed that no longer survive as listed
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return 100.0 * (self.killed + self.killed_on_rerun) / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        return self.total > 0 and self.score >= self.module.target


def load_config(path: Path = CONFIG) -> tuple[dict[str, Module], list[Equivalent]]:
    data = tomllib.loads(path.read_text())
    modules = {
        name: Module(
            name=name,
            path=spec["path"],
            tests=tuple(spec["tests"]),
            target=float(spec["target"]),
            ci=bool(spec.get("ci", False)),
            markers=spec.get("markers", FAST_TIER),
            only_when_named=bool(spec.get("only_when_named", False)),
        )
        for name, spec in data["modules"].items()
    }
    equivalents = [
        Equivalent(entry["mutant"], tuple(entry["change"]), entry["reason"]) for entry in data.get("equivalent", [])
    ]
    return modules, equivalents


def mutated_env() -> dict[str, str]:
    """Tests, and the processes they start, import the mutated copy first (mutants/ holds every package they
    import); MNIST stays where `make data` put it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(MUTANTS), *filter(None, [env.get("PYTHONPATH", "")])])
    env.setdefault("MNIST_DIR", str(ROOT / "data" / "mnist"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # mutants/ is rebuilt per module: no stale bytecode beside it
    return env


# -- one module under mutmut (a child process: mutmut's configuration and state are global) --------------------
def run_mutmut(module: Module, max_children: int) -> None:
    import mutmut.configuration as configuration
    from mutmut.__main__ import _run

    os.chdir(ROOT)
    base = configuration._load_config()
    configuration._config = dataclasses.replace(
        base,
        only_mutate=[module.path],
        pytest_add_cli_args=[*base.pytest_add_cli_args, "-m", module.markers],
        pytest_add_cli_args_test_selection=list(module.tests),
    )
    _run([], max_children)


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def show_progress(stream, every_s: float = 15.0) -> None:
    """mutmut redraws a spinner and a counter line many times a second; a log gets each other line once and the
    counter every ``every_s``."""
    last_line, last_count, shown_at = "", "", 0.0
    pending = b""
    for chunk in iter(lambda: stream.read1(4096), b""):
        *parts, pending = re.split(rb"[\r\n]", pending + chunk)
        for part in parts:
            line = part.decode(errors="replace").strip().strip(SPINNER).strip()
            if re.match(r"\d+/\d+ ", line):
                last_count = line
                if time.monotonic() - shown_at >= every_s:
                    print(f"  mutmut: {line}", flush=True)
                    shown_at = time.monotonic()
            elif line and line != last_line and not line.startswith("also copying"):
                print(f"  mutmut: {line}", flush=True)
                last_line = line
    if last_count:
        print(f"  mutmut: {last_count}", flush=True)


def exit_codes(module: Module) -> dict[str, int | None]:
    meta = json.loads((MUTANTS / f"{module.path}.meta").read_text())
    return meta["exit_code_by_key"]


def diff_of(module: Module, mutant: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return get_diff_for_mutant(mutant, path=module.path)
    finally:
        os.chdir(cwd)


def change_of(diff: str) -> tuple[str, ...]:
    return tuple(
        line[0] + " " + line[1:].strip()
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


_running: set[subprocess.Popen] = set()  # the re-runs under way, stopped with their process groups on Ctrl-C


def rerun(module: Module, mutant: str) -> str:
    """The mutant against the module's whole test list: "killed", "survived" or "error" (pytest could not run)."""
    env = mutated_env() | {"MUTANT_UNDER_TEST": mutant}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", module.markers]
    # its own session: the processes its tests start go with it when it is stopped
    run = subprocess.Popen(
        [*command, *module.tests],
        cwd=MUTANTS,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _running.add(run)
    try:
        code = run.wait(timeout=RERUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop(run)
        return "killed"
    finally:
        _running.discard(run)
    return {0: "survived", 1: "killed"}.get(code, "error")


def stop(run: subprocess.Popen) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    run.wait()


def measure(module: Module, equivalents: list[Equivalent], max_children: int) -> Result:
    started = time.monotonic()
    shutil.rmtree(MUTANTS, ignore_errors=True)  # a copy left by another module's run is never reused as mutated
    MUTANTS.mkdir()  # on PYTHONPATH from the start: Python gives up for good on a path entry that does not exist
    if (ROOT / ".venv").exists():  # what scripts/serve.sh runs, from the copy, for the tests that start a server
        (MUTANTS / ".venv").symlink_to(ROOT / ".venv")
    child = subprocess.Popen(
        [sys.executable, "-m", "scripts.mutate", "--mutmut", module.name, "--max-children", str(max_children)],
        cwd=ROOT,
        env=mutated_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    show_progress(child.stdout)
    if child.wait() != 0:
        raise SystemExit(f"mutmut failed on {module.path} (exit {child.returncode})")
    from mutmut.stats import status_by_exit_code

    codes = exit_codes(module)
    result = Result(module, total=len(codes))
    again = []
    for mutant, code in codes.items():
        status = status_by_exit_code[code]
        if status in ("killed", "timeout", "segfault"):
            result.killed += 1
        else:  # survived, no tests, suspicious: the whole list decides
            again.append(mutant)
    print(f"{module.name}: {len(again)} mutants outlived the tests mutmut mapped; each runs against the whole list")
    if again and rerun(module, "fail") != "killed":  # every mutated function raises: the list must notice
        raise SystemExit(f"the tests of {module.name} do not run the mutated copy; no score can be trusted")
    # and pass on the copy as it is: a test that cannot run there, or a shared server that died during mutmut's
    # run, fails with every mutant, each then counted as killed
    _passes_unmutated(module, "after mutmut's run")
    listed = {e.mutant: e for e in equivalents if e.mutant.startswith(module.prefix)}
    pool = ThreadPoolExecutor(max_children)
    try:
        verdicts = pool.map(lambda m: rerun(module, m), again)
        for done, (mutant, verdict) in enumerate(zip(again, verdicts, strict=True), 1):
            print(f"  [{done}/{len(again)}] {mutant}: {verdict}", flush=True)
            if verdict == "killed":
                result.killed_on_rerun += 1
                continue
            diff = diff_of(module, mutant)
            entry = listed.get(mutant)
            if verdict == "survived" and entry is not None and entry.change == change_of(diff):
                result.equivalent.append(mutant)
            else:
                result.survivors[mutant] = (
                    diff if verdict == "survived" else f"(pytest could not run: {verdict})\n{diff}"
                )
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        for run in list(_running):
            stop(run)
        raise
    pool.shutdown()
    if again:  # a server the tests share (a Cassandra node) that died meanwhile would have "killed" the rest
        _passes_unmutated(module, "after the re-runs")
    result.stale = sorted(set(listed) - set(result.equivalent))
    result.seconds = time.monotonic() - started
    return result


def _passes_unmutated(module: Module, when: str) -> None:
    if rerun(module, NO_MUTANT) != "survived":
        raise SystemExit(
            f"the tests of {module.name} fail on the copy with no mutant active {when} (run them from {MUTANTS} to "
            "see why; a shared Cassandra node's log is in the run's temporary folder); no score can be trusted"
        )


@contextlib.contextmanager
def shared_cassandra(needed: bool) -> Iterator[None]:
    """One Cassandra node for every test session of the run, which would otherwise each start their own: named
    to them in CASSANDRA_TEST_NODE (mutmut and the re-runs inherit this process's environment), stopped at the
    end, on Ctrl-C and on errors too."""
    from scripts.cassandra_node import NODE_FILE_VAR

    if not needed:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="mutate-cassandra-", ignore_cleanup_errors=True) as tmp:
        describe, log = Path(tmp) / "node.json", Path(tmp) / "serve.log"
        print("starting the Cassandra node the tests share...", flush=True)
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "scripts.cassandra_node", "serve", "--describe", str(describe), "--dir", tmp],
                cwd=ROOT,
                # every session's keyspaces are created and dropped on it: at the tests' 512M it ran out of heap
                # part way through a module, and each test after that failed, a mutant "killed" (docs/testing.md)
                env={**os.environ, "CASSANDRA_HEAP": SHARED_NODE_HEAP},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches it through the finally below, once, not twice
            )
        try:
            while not describe.exists():
                if server.poll() is not None:
                    raise SystemExit(f"the Cassandra node did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(1)
            os.environ[NODE_FILE_VAR] = str(describe)
            yield
        finally:
            os.environ.pop(NODE_FILE_VAR, None)
            server.terminate()  # it drains the node, then exits
            try:
                server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                stop(server)


# -- reports -----------------------------------------------------------------------------------------------------
HEADER = (
    "| module | mutants | killed | equivalent (listed) | survived (not listed) | score | target | minutes | measured |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def row(result: Result, measured: str) -> str:
    """A table row; the comment at its end names the module, for update_docs to replace it on the next run."""
    m = result.module
    killed = result.killed + result.killed_on_rerun
    return (
        f"| `{m.path}` | {result.total} | {killed} | {len(result.equivalent)} | {len(result.survivors)} "
        f"| {result.score:.1f} % | {m.target:.0f} % | {result.seconds / 60:.1f} | {measured} | <!-- {m.name} -->"
    )


def report(results: Iterable[Result], command: str, when: str) -> str:
    lines = [f"Mutation testing, {when}: `{command}`", "", HEADER]
    lines += [row(r, when).rsplit(" <!--", 1)[0] for r in results]
    for r in results:
        if r.survivors or r.stale:
            lines += ["", f"## `{r.module.path}`: survivors not listed as equivalent", ""]
            for name, diff in r.survivors.items():
                lines += [f"### {name}", "", "```diff", diff, "```", ""]
                # ready for scripts/mutation.toml, once a reason why no test can tell it from the original is known
                change = ", ".join(json.dumps(line, ensure_ascii=False) for line in change_of(diff))
                lines += ["```toml", "[[equivalent]]", f'mutant = "{name}"', f"change = [{change}]", 'reason = ""']
                lines += ["```", ""]
            for name in r.stale:
                lines += [
                    f"- listed as equivalent in scripts/mutation.toml, but not a survivor with that change: {name}"
                ]
    return "\n".join(lines) + "\n"


def between(text: str, begin: str, end: str, body: str) -> str:
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def equivalent_list(modules: dict[str, Module], equivalents: list[Equivalent]) -> str:
    """docs/testing.md's copy of mutation.toml's list, so the page says why each survivor is harmless."""
    lines = []
    for module in modules.values():
        listed = [e for e in equivalents if e.mutant.startswith(module.prefix)]
        if listed:
            lines += ["", f"`{module.path}` ({len(listed)}):", ""]
            for e in listed:
                change = " / ".join(f"`{line}`" for line in e.change)
                lines.append(f"- `{e.mutant.removeprefix(module.prefix)}`: {change}. {e.reason}")
    return "\n".join(lines[1:])


def update_docs(results: list[Result], command: str, when: str) -> None:
    """The table in docs/testing.md: this run's rows replace those of the same modules; the others stay, with
    the date and command that measured them. The list of equivalent mutants is copied from mutation.toml."""
    modules, equivalents = load_config()
    DOCS.write_text(between(DOCS.read_text(), EQUIVALENT_BEGIN, EQUIVALENT_END, equivalent_list(modules, equivalents)))
    text = DOCS.read_text()
    head, rest = text.split(DOCS_BEGIN, 1)
    table, tail = rest.split(DOCS_END, 1)
    kept = {}
    for line in table.splitlines():
        found = re.search(r"<!-- (\w+) -->$", line)
        if found:
            kept[found.group(1)] = line
    for r in results:
        kept[r.module.name] = row(r, f"{when}, `{command}`")
    body = "\n".join(kept[name] for name in kept)
    DOCS.write_text(f"{head}{DOCS_BEGIN}\n{HEADER}\n{body}\n{DOCS_END}{tail}")


def write_reports(results: list[Result], broken: list[str], command: str, when: str, docs: bool) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "mutation.md").write_text(report(results, command, when) + "".join(f"\n{b}\n" for b in broken))
    if docs and results:
        update_docs(results, command, when)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules", nargs="*", help="names from scripts/mutation.toml (default: all but those run only when named)"
    )
    parser.add_argument("--ci", action="store_true", help="only the modules .ci/run gates on")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/testing.md too")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--mutmut", help=argparse.SUPPRESS)  # internal: the child that runs mutmut on one module
    args = parser.parse_args(argv)
    modules, equivalents = load_config()
    if args.mutmut:
        run_mutmut(modules[args.mutmut], args.max_children)
        return 0
    unknown = sorted(set(args.modules) - set(modules))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; scripts/mutation.toml names {', '.join(modules)}")
    chosen = [modules[n] for n in args.modules] or [
        m for m in modules.values() if (m.ci or not args.ci) and not m.only_when_named
    ]
    command = " ".join([".venv/bin/python -m scripts.mutate", *(argv if argv is not None else sys.argv[1:])])
    when = datetime.date.today().isoformat()
    results, broken = [], []
    try:
        with shared_cassandra(any(m.only_when_named for m in chosen)):
            for module in chosen:
                print(f"== {module.name}: {module.path} against {' '.join(module.tests)}", flush=True)
                try:
                    results.append(measure(module, equivalents, args.max_children))
                except SystemExit as exc:  # this module could not be measured: say so, and go on with the others
                    print(f"== {module.name}: NOT MEASURED: {exc}", flush=True)
                    broken.append(f"{module.path}: not measured: {exc}")
                    continue
                r = results[-1]
                print(f"== {module.name}: {r.score:.1f} % (target {r.module.target:.0f} %), {r.seconds / 60:.1f} min")
                write_reports(
                    results, broken, command, when, args.docs
                )  # after each module: a stop keeps what was measured
    except KeyboardInterrupt:
        print("stopped; the modules measured before are in test-artifacts/mutation.md", file=sys.stderr)
        return 130
    write_reports(results, broken, command, when, args.docs)
    print(report(results, command, when).split("\n## ", 1)[0])
    failing = [r for r in results if not r.passed]
    for r in failing:
        print(f"FAILED: {r.module.path} scores {r.score:.1f} %, below its target of {r.module.target:.0f} %")
    for line in broken:
        print(f"FAILED: {line}")
    print("survivors' diffs: test-artifacts/mutation.md")
    return 1 if failing or broken else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
