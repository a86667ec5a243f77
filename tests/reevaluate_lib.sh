# tests/reevaluate_lib.sh: what the reevaluate suites share (sourced after
# tests/lib.sh, with $LW set).
#
#   rev ARGS...                 labwatch reevaluate --json ARGS
#   changes FILE [PATIENT...]   its change lines (of those patients),
#                               "change kind patient analyte grade", sorted
#   summary FILE KIND           its totals of KIND: new/retracted/updated/unchanged
rev() { "$LW" reevaluate --json "$@"; }
changes() { python3 -c '
import json, sys
want = set(sys.argv[2:])
out = []
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "change" in d and (not want or d["patient"] in want):
        out.append("%s %s %s %s %s" % (d["change"], d["kind"], d["patient"], d["analyte"], d["grade"]))
print(";".join(sorted(out)))' "$@"; }
summary() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "kind" in d and "new" in d and d["kind"] == sys.argv[2]:
        print("%d/%d/%d/%d" % (d["new"], d["retracted"], d["updated"], d["unchanged"]))' "$1" "$2"; }
#   hchanges FILE [PATIENT...]  its hold and resume change lines (of those
#                               patients), "change kind patient rule", sorted
hchanges() { python3 -c '
import json, sys
want = set(sys.argv[2:])
out = []
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "change" in d and d["kind"] in ("hold", "resume") and (not want or d["patient"] in want):
        out.append("%s %s %s %s" % (d["change"], d["kind"], d["patient"], d.get("rule")))
print(";".join(sorted(out)))' "$@"; }
