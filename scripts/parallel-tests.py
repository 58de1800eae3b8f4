#!/usr/bin/env python3
"""Runs every XCTest class of the test bundle, JOBS classes at a time, each in its own process.

    scripts/parallel-tests.py BUNDLE [JOBS]

Run serially, the suite leaves about half of a two-core machine idle: most integration tests wait on
servers, timers and sockets, and the unit tests use one core. Each class runs alone in its own process
(`BUNDLE Module.Class`), so a class's fixtures (servers it shares between its tests) stay its own; its
output is printed whole when it ends, so the log reads as a serial one. The longest classes start first
(`LONGEST`, from a serial run's timings) so the workers finish together. A class whose process fails, or
dies without XCTest's closing summary (a crash), counts as failed. Prints XCTest's lines for each class,
then one closing line: "tests: N passed, F failed, S skipped". Exit status 1 when anything failed.
"""
import os
import re
import subprocess
import sys
import threading
import time

# Classes above ~8 s in a serial run (2026-12-04, debug build), longest first.
LONGEST = [
    "IntegrationTests.DifferentialTests", "IntegrationTests.SnapshotTests", "IntegrationTests.ReplicationTests",
    "IntegrationTests.EvictionTests", "NeedletailTests.DatabaseTests", "IntegrationTests.PubSubTests",
    "IntegrationTests.PersistenceLifecycleTests", "NeedletailTests.RDBCodecTests", "NeedletailTests.SetValueTests",
    "IntegrationTests.ShutdownTests", "IntegrationTests.TLSTests", "NeedletailTests.ListValueTests",
    "IntegrationTests.DiagnosticsTests", "IntegrationTests.DiskFullTests", "IntegrationTests.TransactionTests",
    "NeedletailTests.ReplicationBacklogTests", "IntegrationTests.ACLTests", "NeedletailTests.HashTableTests",
    "IntegrationTests.LazyFreeTests", "IntegrationTests.DumpRestoreTests", "IntegrationTests.ScriptingTests",
    "IntegrationTests.TimeoutTests", "IntegrationTests.AOFTests", "IntegrationTests.RDBInterchangeTests",
    "NeedletailTests.HashValueTests",
]

SUMMARY = re.compile(r"Executed (\d+) tests?, with (?:(\d+) tests? skipped and )?(\d+) failures?")


def classes(bundle):
    listing = subprocess.run([bundle, "--list-tests"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in listing.splitlines():
        if "/" in line and "." in line.split("/")[0]:
            name = line.strip().split("/")[0]
            if name not in found:
                found.append(name)
    first = [c for c in LONGEST if c in found]
    return first + [c for c in found if c not in first]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bundle = sys.argv[1]
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else max(1, os.cpu_count() or 1)
    queue = classes(bundle)
    lock = threading.Lock()
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failed_classes = []
    started = time.monotonic()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                name = queue.pop(0)
            begun = time.monotonic()
            run = subprocess.run([bundle, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 errors="replace", text=True)
            # The last "Executed" line is the whole process's (the class's suite, then "Selected tests").
            counts = SUMMARY.findall(run.stdout)
            with lock:
                sys.stdout.write(run.stdout)
                if counts:
                    executed, skipped, failures = (int(x or 0) for x in counts[-1])
                    totals["passed"] += executed - failures - skipped
                    totals["skipped"] += skipped
                    totals["failed"] += failures
                else:
                    totals["failed"] += 1  # the class, counted as one failed test
                if run.returncode != 0 or not counts:
                    why = "no XCTest summary (crashed?)" if not counts else "exit status %d" % run.returncode
                    failed_classes.append("%s (%s)" % (name, why))
                print("[parallel-tests] %s: %.1f s, exit %d" % (name, time.monotonic() - begun, run.returncode))
                sys.stdout.flush()

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("[parallel-tests] %d jobs, %.1f s" % (jobs, time.monotonic() - started))
    for name in failed_classes:
        print("[parallel-tests] FAILED: " + name)
    print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % totals)
    sys.exit(1 if failed_classes or totals["failed"] else 0)


if __name__ == "__main__":
    main()
