"""Several pytest processes share one suite, a test file at a time (./scripts/test,
`-p queue_plugin` with tests/ on PYTHONPATH).

With PARLEY_TEST_QUEUE set to a directory shared by the processes, each process
collects the whole suite as usual, then takes the files one by one, the largest
first: a file is run by the one process that claims it (an atomic mkdir in that
directory), every test of it in the collected order, with its module fixtures as
in a lone run. The integration tests mostly wait on sockets and timers, so two
processes on one store finish a leg in about half the time; which process runs a
file changes nothing in it (every test starts its own servers on free ports, with
a database of its own).

Every claimed file leaves `done` in its directory once all its tests ran; after
the processes exit, `python3 tests/queue_plugin.py check DIR` says whether every file collected was run to the end.

Without PARLEY_TEST_QUEUE the plugin does nothing."""
import os
import sys

import pytest


def _key(path):
    return path.replace(os.sep, "__").replace("/", "__")


def _claim(queue, path):
    try:
        os.mkdir(os.path.join(queue, _key(path)))
        return True
    except FileExistsError:
        return False


def _size(config, path):
    try:
        return os.path.getsize(os.path.join(str(config.rootpath), path))
    except OSError:
        return 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    queue = os.environ.get("PARLEY_TEST_QUEUE")
    if not queue or session.config.option.collectonly:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} errors during collection")
    os.makedirs(queue, exist_ok=True)
    files = {}
    for item in session.items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    # The largest files first, so that the processes end close together.
    with open(os.path.join(queue, f"collected-{os.getpid()}"), "w") as f:
        f.write("\n".join(files) + "\n")
    for path in sorted(files, key=lambda p: -_size(session.config, p)):
        if not _claim(queue, path):
            continue
        items = files[path]
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        with open(os.path.join(queue, _key(path), "done"), "w") as f:
            f.write(f"{os.getpid()} {len(items)}\n")
    return True


def check_queue(queue):
    """The files some process collected and no process ran to the end."""
    collected = set()
    for name in os.listdir(queue):
        if name.startswith("collected-"):
            with open(os.path.join(queue, name)) as f:
                collected.update(line for line in f.read().splitlines() if line)
    return sorted(p for p in collected
                  if not os.path.exists(os.path.join(queue, _key(p), "done")))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        sys.exit("usage: queue_plugin.py check DIR")
    missing = check_queue(sys.argv[2])
    for p in missing:
        print(f"not run to the end: {p}")
    sys.exit(1 if missing else 0)
