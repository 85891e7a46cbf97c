"""scripts/test's summary: a failed part's failure lines and last lines follow the
summary again (a CI log that keeps only its beginning and its end still says what
failed). The script's own functions (digest, record, run_part, run_lanes) are read out
of it and run on small parts here, in bash, without building or testing anything.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "test")


def function(name):
    with open(SCRIPT, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^%s\(\) \{\n.*?^\}\n" % name, text, re.M | re.S)
    assert m, f"scripts/test defines no {name}()"
    return m.group(0)


def run(body, tmp_path):
    script = "\n".join([
        "set -uo pipefail",
        f"WORK={tmp_path}",
        "SUMMARY=() PASSED=0 FAILED=0 DIGESTS=()",
        *(function(f) for f in ("digest", "record", "run_part", "run_lanes")),
        body,
        'printf "%s\\n" "${SUMMARY[@]}"',
        'echo "=== digests"',
        '[ ${#DIGESTS[@]} -eq 0 ] || cat "${DIGESTS[@]}"',
    ])
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("=== digests\n", 1)


def test_a_failed_part_is_digested_and_a_passed_one_is_not(tmp_path):
    out, digests = run("""
ok() { echo "all fine"; }
bad() {
  echo "collected 3 items"
  for i in $(seq 30); do echo "noise $i"; done
  echo "FAILED tests/x.py::test_a - AssertionError: 1 == 2"
  echo "ERROR: AddressSanitizer: heap-use-after-free on address 0x1"
  echo "1 failed, 2 passed in 3.00s"
  SEEN=yes
  return 1
}
run_part "a part that passes" ok
run_part "a part that fails" bad
echo "what the part set: $SEEN"
""", tmp_path)
    assert "what the part set: yes" in out, "a part runs in the script's shell"
    assert re.search(r"^PASS  a part that passes ", out, re.M)
    assert re.search(r"^FAIL  a part that fails .*\(exit 1\)$", out, re.M)
    assert "all fine" not in digests
    head, last = digests.split("... its last lines:\n")
    assert head.splitlines() == [
        "--- a part that fails",
        "FAILED tests/x.py::test_a - AssertionError: 1 == 2",
        "1 failed, 2 passed in 3.00s",
        "ERROR: AddressSanitizer: heap-use-after-free on address 0x1",
    ], "pytest's summary first, then the other failure lines"
    assert last.splitlines()[-1] == "1 failed, 2 passed in 3.00s"
    assert "collected 3 items" not in last, "only the last lines"


def test_parts_side_by_side_are_digested_in_their_order(tmp_path):
    out, digests = run("""
one() { sleep 0.2; echo "E   assert 'a' == 'b'"; return 2; }
two() { echo "fine"; }
three() { echo "CMake Error at CMakeLists.txt:1"; return 1; }
run_lanes "first" one :: "second" two "third" three
""", tmp_path)
    assert re.search(r"^FAIL  first .*\(exit 2\)$", out, re.M)
    assert re.search(r"^PASS  second ", out, re.M)
    assert [ln for ln in digests.splitlines() if ln.startswith("--- ")] == ["--- first", "--- third"]
    assert "E   assert 'a' == 'b'" in digests and "CMake Error at CMakeLists.txt:1" in digests
    assert not [f for f in os.listdir(tmp_path) if f.startswith("part-")], "the lanes' files are removed"
