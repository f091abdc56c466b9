#!/usr/bin/env python3
# Re-verifies a keygate audit export (keygate audit export --format jsonl)
# without keygate: the encoding is docs/audit.md's. Usage:
#   keygate audit export --format jsonl | python3 scripts/audit-verify.py
# It checks numbering, links and hashes; compare the head it prints with
# one saved earlier (keygate audit head) to find a removed tail.
import hashlib, json, sys
from datetime import datetime

def ns(s):
    b = s.encode()
    return str(len(b)).encode() + b":" + b + b","

def micros(at):  # RFC 3339 with up to 9 fractional digits, as keygate writes it
    date, _, frac = at.rstrip("Z").partition(".")
    t = datetime.fromisoformat(date + "+00:00")
    return int(t.timestamp()) * 1_000_000 + int((frac + "000000")[:6])

prev, want = "", 1
for line in sys.stdin:
    e = json.loads(line)
    assert e["seq"] == want, f"entry {want} missing"
    want += 1
    if not e.get("hash"):   # older than the chain (migration 0024)
        continue
    fields = ["keygate.audit.v1", str(e["seq"]), e["id"], str(micros(e["at"])), e["actor"], e.get("source", ""),
              e["action"], e["target_kind"], e["target_id"], e.get("reason", ""), e["result"],
              str(len(e.get("changes", [])))]
    for c in e.get("changes", []):
        fields += [c["field"], c["before"], c["after"]]
    fields.append(e.get("prev_hash", ""))
    h = hashlib.sha256(b"".join(ns(f) for f in fields)).hexdigest()
    assert e.get("prev_hash", "") == prev, f"entry {e['seq']}: not linked to the entry before it"
    assert h == e["hash"], f"entry {e['seq']}: edited"
    prev = h
print(f"ok: {want - 1} entries, head {prev}")
