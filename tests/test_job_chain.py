"""The job chain named once (sync.job_chain): every job imports, every chain ends, nothing queues by a literal path."""
from __future__ import annotations

import ast
import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from sync import job_chain
from sync.runtime import QUEUE_NAMES

ROOT = Path(__file__).resolve().parent.parent
CHAIN_MODULE = ROOT / "sync" / "job_chain.py"
# The calls that queue a job, and where their job argument sits (enqueue_in/enqueue_at take the time first).
QUEUEING = {"enqueue": 0, "enqueue_call": 0, "enqueue_in": 1, "enqueue_at": 1}


@pytest.mark.parametrize("name", sorted(job_chain.JOBS))
def test_every_declared_job_imports_to_a_callable_on_a_known_queue(name):
    job = job_chain.JOBS[name]
    module, _, attribute = job.path.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute, None)), job.path
    assert job.queue in QUEUE_NAMES
    assert job.timeout is None or job.timeout > 0


def test_a_job_is_queued_on_its_queue_with_its_timeout_unless_the_site_says_otherwise(redis_url):
    redis = Redis.from_url(redis_url)
    queues = {name: Queue(name, connection=redis) for name in QUEUE_NAMES}
    for job in job_chain.JOBS.values():
        queued = job.enqueue(queues, 7, "full", then_score=False)
        assert (queued.origin, queued.func_name, queued.args, queued.kwargs) == (
            job.queue, job.path, (7, "full"), {"then_score": False})
        assert queued.timeout == (job.timeout or 180)  # None: RQ's default
    assert job_chain.WRITEBACK.enqueue(queues, 7, {"lead": ["a"]}, job_timeout=600).timeout == 600
    later = job_chain.SCORE.enqueue_in(queues, timedelta(seconds=30), 7)
    assert later.id in queues["scoring"].scheduled_job_registry.get_job_ids() and later.timeout == 1800
    redis.close()


def test_every_next_job_is_declared_and_no_job_follows_itself():
    for job in job_chain.JOBS.values():
        for following in job.then:
            assert following in job_chain.JOBS, f"{job.name} is followed by undeclared {following}"
        assert job.name not in job.then, f"{job.name}: a job queueing itself is a retry, not a step"


def _cycle(jobs: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle through the ``then`` edges (as the names on it), or None when every path ends."""
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for following in jobs.get(name, ()):
            found = walk(following, path + [name])
            if found:
                return found
        done.add(name)
        return None

    for name in jobs:
        found = walk(name, [])
        if found:
            return found
    return None


def test_every_chain_ends():
    assert _cycle({name: job.then for name, job in job_chain.JOBS.items()}) is None
    for chain, steps in job_chain.CHAINS.items():
        assert steps, chain
        for step, following in zip(steps, steps[1:]):
            assert following in job_chain.JOBS[step].then, f"{chain}: {step} does not lead to {following}"
        assert job_chain.JOBS[steps[-1]].then == (), f"{chain} goes on after {steps[-1]}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"sync": ("score",), "score": ("writeback",), "writeback": ("sync",)}) == [
        "sync", "score", "writeback", "sync"]
    assert _cycle({"sync": ("score",), "score": ()}) is None


def test_the_product_chains_are_declared():
    assert job_chain.CHAINS["webhook"] == ("process_events", "score", "writeback")
    assert job_chain.CHAINS["schedule"] == ("tick", "sync", "score", "writeback")


def literal_paths(source: str, filename: str = "<source>") -> list[str]:
    """Where this source names a job by a literal dotted string: a declared job's path anywhere, or a
    string literal as the job of any queueing call (a job not declared yet)."""
    declared = {job.path for job in job_chain.JOBS.values()}
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Constant) and node.value in declared:
            found.append(f"{filename}:{node.lineno} {node.value!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUEUEING:
            position = QUEUEING[node.func.attr]
            if len(node.args) > position and isinstance(node.args[position], ast.Constant) \
                    and isinstance(node.args[position].value, str):
                found.append(f"{filename}:{node.lineno} {node.func.attr}({node.args[position].value!r})")
    return found


def _sources() -> list[Path]:
    """The project's Python outside the tests (they may check a job's path) and outside hidden folders."""
    return [path for path in ROOT.rglob("*.py")
            if not any(part.startswith(".") or part in ("tests", "node_modules") for part in path.relative_to(ROOT).parts)
            and path != CHAIN_MODULE]


def test_no_module_outside_the_chain_queues_by_a_literal_dotted_string():
    sources = _sources()
    assert ROOT / "sync" / "jobs.py" in sources and ROOT / "web" / "install.py" in sources
    found = [hit for path in sources for hit in literal_paths(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "queue through sync.job_chain instead:\n" + "\n".join(found)


def test_the_scan_finds_a_literal_path_added_back():
    assert literal_paths('queue.enqueue("sync.jobs.sync_connection", 1)') != []
    assert literal_paths('JOB = "scoring.jobs.retrain_job"') != []
    assert literal_paths('queue.enqueue_in(delay, "scoring.new_module.new_job", 1)') != []
    assert literal_paths('SYNC.enqueue(rt.queues, 1, "full")') == []


def test_no_site_drops_a_job_back_to_rqs_three_minute_default():
    # RQ kills a job at 180 s by default: a full sync or a burst of events would be cut short and run
    # again from the start. Every job's timeout is its declared one (or a longer one a site names).
    found = [f"{path.relative_to(ROOT)}:{number}" for path in _sources()
             for number, line in enumerate(path.read_text().splitlines(), start=1) if "job_timeout=None" in line]
    assert found == [], "use the job's declared timeout:\n" + "\n".join(found)


# Entry points other than jobs, which reach the runtime as a job does: the worker's main (it builds the runtime
# its jobs and their forked children find) and the forecast CLI's session, for `flask forecast`.
OTHER_ENTRY_POINTS = {"sync.worker.main", "scoring.forecast.cli.session_scope"}


def runtime_reaches(source: str, module: str) -> list[tuple[str, int, bool]]:
    """Each top-level function that calls ``runtime.current()``: its dotted path, how many times it calls
    it, and whether the call opens it (``rt = runtime.current()``, after the docstring and local imports)."""
    def is_current(node) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "current"
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("runtime", "runtime_module"))

    found = []
    for function in ast.parse(source).body:
        if not isinstance(function, ast.FunctionDef):
            continue
        calls = sum(1 for node in ast.walk(function) if is_current(node))
        if calls:
            body = [statement for statement in function.body if not isinstance(statement, (ast.Import, ast.ImportFrom))
                    and not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))]
            opening = bool(body) and isinstance(body[0], ast.Assign) and is_current(body[0].value)
            found.append((f"{module}.{function.name}", calls, opening))
    return found


def test_the_runtime_is_reached_once_at_the_top_of_a_job_and_handed_down_from_there():
    # RQ calls a job with its queued arguments only: the job reaches the runtime, in one line at its top,
    # and every function below it takes the runtime (or the sessions, Redis or config it needs) as an argument.
    jobs = {job.path for job in job_chain.JOBS.values()}
    found = []
    for path in _sources():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for function, calls, opening in runtime_reaches(path.read_text(), module):
            if function not in OTHER_ENTRY_POINTS and (function not in jobs or calls != 1 or not opening):
                found.append(f"{function}: {calls} call(s), {'at' if opening else 'not at'} its top")
    assert found == [], "take the runtime as an argument from the job instead:\n" + "\n".join(found)


def test_the_runtime_scan_finds_a_helper_that_reaches_it():
    assert runtime_reaches('def job(i):\n    """Doc."""\n    from sync import runtime\n\n'
                           '    rt = runtime.current()\n    return i\n', "m") == [("m.job", 1, True)]
    assert runtime_reaches("def helper():\n    session = make()\n    return runtime_module.current().redis\n",
                           "m") == [("m.helper", 1, False)]
    assert runtime_reaches("def plain(rt):\n    return rt.redis\n", "m") == []
