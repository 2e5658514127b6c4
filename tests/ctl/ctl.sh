#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# cupule run, its supervisor and cupulectl on this machine, no guest OS
# needed: two VMs boot a tiny kernel that halts for good (mkidle.py), so
# everything around the guest runs for real: mediators (blk, net on a
# switch), their sandboxes, the control socket.  Checks list (table and
# JSON), stats, kill and restart (by the operator and after a crash),
# a switch killed and started again, hangs (SIGSTOP), the crash-loop
# limit, permissions on the socket, a second cupule with the same uids,
# a VM process that does not answer, audit and audit --probe.
#
# usage: tests/ctl/ctl.sh [BUILD]     (root)
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bin
tmp=$(mktemp -d /tmp/cupule-ctl.XXXXXX)
pass=0
fail=0
pid=

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() {	# check "what" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

ctl() { "$bin/cupulectl" --socket "$tmp/ctl.sock" "$@"; }
# jq-like reads with python: field of the device VM/DEV in list --json.
field() {
	ctl list --json | python3 -c '
import json, sys
vm, dev, key = sys.argv[1:4]
for d in json.load(sys.stdin):
    if (d["vm"] or "-") == vm and d["device"] == dev:
        print(d.get(key)); break
' "$1" "$2" "$3"
}
# Waits up to 20 s for field VM DEV KEY to read VALUE (or to differ, !VALUE).
wait_field() {
	local want=$4 got
	for _ in $(seq 200); do
		got=$(field "$1" "$2" "$3" 2>/dev/null)
		case $want in
		!*) [ -n "$got" ] && [ "$got" != None ] && [ "$got" != "${want#!}" ] && return 0 ;;
		*) [ "$got" = "$want" ] && return 0 ;;
		esac
		sleep 0.1
	done
	echo "  $1/$2 $3 is '$got', wanted '$want'"
	return 1
}

# Waits up to 20 s for a line with TEXT in the narrowed run's log.
wait_log() {
	for _ in $(seq 200); do
		grep -Fq "$1" "$tmp/narrow-run.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "  no '$1' in the log:"
	tail -n 5 "$tmp/narrow-run.log" | sed 's/^/  | /'
	return 1
}

python3 "$here/mkidle.py" "$tmp/idle.bz" || exit 1
truncate -s 8M "$tmp/disk.img"
cat >"$tmp/s.cfg" <<EOF
control = { socket = "$tmp/ctl.sock"; };
supervise = { heartbeat_ms = 100; heartbeat_misses = 5; restart_limit = 4;
              backoff_min_ms = 10; backoff_max_ms = 50; };
vms = (
  { name = "a"; memory = "64M"; vcpus = 1; kernel = "idle.bz";
    console = "file:$tmp/a.con";
    devices = ( { type = "blk"; id = "disk"; image = "disk.img"; },
                { type = "net"; backend = "switch:lan"; } ); },
  { name = "b"; memory = "64M"; vcpus = 1; kernel = "idle.bz";
    console = "file:$tmp/b.con";
    devices = ( { type = "net"; backend = "switch:lan";
                  supervise = { restart_limit = 1; }; } ); }
);
EOF
"$bin/cupule" run "$tmp/s.cfg" >"$tmp/run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/ctl.sock" ] && break; sleep 0.1; done
check "control socket is there, mode 0600" \
	test "$(stat -c %a "$tmp/ctl.sock" 2>/dev/null)" = 600
check "every mediator running" wait_field b net0 state running
wait_field a disk state running >/dev/null && wait_field a net0 state running >/dev/null

# list: the table and the JSON (vm, device, type, pid, state, restarts).
out=$(ctl list)
check "list has a header and four rows" \
	test "$(echo "$out" | grep -c .)" = 5
check "list names the switch" grep -Eq '^-  +lan +switch +[0-9]+ running' <<<"$out"
check "list --json has the members" python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == 4, d
for e in d:
    for k in ("vm", "device", "type", "pid", "state", "restarts"):
        assert k in e, (k, e)
    assert e["state"] == "running" and e["pid"] > 0, e
' <<<"$(ctl list --json)"

# The audit: clean, as JSON too, and every probe operation refused.
check "audit finds nothing" bash -c "'$bin/cupulectl' --socket '$tmp/ctl.sock' audit >'$tmp/audit.txt'"
check "audit says so" grep -q "no findings" "$tmp/audit.txt"
check "audit --json: sandboxed, own uids, no findings" python3 -c '
import json, sys
a = json.load(sys.stdin)
assert a["findings"] == [], a["findings"]
meds = a["mediators"]
assert len(meds) == 4, meds
uids = [m["uid"] for m in meds]
assert 0 not in uids and len(set(uids)) == 4, uids
for m in meds:
    assert m["seccomp"] == 2 and m["no_new_privs"] == 1, m
    assert m["cap_eff"] == 0 and m["cap_bnd"] == 0, m
' <<<"$(ctl audit --json)"
check "audit --probe: every operation refused" bash -c \
	"'$bin/cupulectl' --socket '$tmp/ctl.sock' --json audit --probe >'$tmp/probe.json'"
check "probe covers the three mediators, nothing allowed" python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["probes"]
assert len(p) == 3, p
for m in p:
    ops = {o["operation"]: o["result"] for o in m["operations"]}
    assert len(ops) >= 15, ops
    for op, res in ops.items():
        assert res in ("seccomp", "errno", "skipped"), (m["device"], op, res)
    assert ops["open-file"] != "skipped" and ops["ptrace-sibling"] != "skipped"
' "$tmp/probe.json"

# The audit sees what is wrong: a fake cupule that calls an ordinary
# root process (sleep) its blk mediator.
sleep 300 &
victim=$!
cat >"$tmp/fake.py" <<'PY'
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o600)
s.listen(1)
c, _ = s.accept()
req = b""
while not req.endswith(b"\n"):
    req += c.recv(4096)
c.sendall((json.dumps({"ok": True, "devices": [{"vm": "x", "device": "fake",
    "type": "blk", "pid": int(sys.argv[2]), "state": "running",
    "restarts": 0, "objects": {"ram": 1, "ring": 2, "state": 3}}]}) + "\n").encode())
c.close()
PY
python3 "$tmp/fake.py" "$tmp/fake.sock" "$victim" &
fake=$!
for _ in $(seq 50); do [ -S "$tmp/fake.sock" ] && break; sleep 0.1; done
"$bin/cupulectl" --socket "$tmp/fake.sock" audit >"$tmp/fake.txt" 2>&1
rc=$?
kill "$victim" 2>/dev/null
wait "$fake" 2>/dev/null
check "audit of an unsandboxed process exits 1" test "$rc" = 1
[ "$rc" = 1 ] || sed 's/^/  | /' "$tmp/fake.txt"
for f in "runs as root" "no seccomp filter" "no_new_privs is not set" \
	"shares the host's net namespace" "is not in mediators/blk/blk.policy"; do
	check "audit finds: $f" grep -q "FINDING: x/fake: .*$f" "$tmp/fake.txt"
done

# A crash (SIGKILL from outside): replaced, counted.
old=$(field a disk pid)
kill -9 "$old"
check "killed blk mediator replaced" wait_field a disk pid "!$old"
check "and running again" wait_field a disk state running
check "one restart counted" wait_field a disk restarts 1
check "the stats show a second attach" python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d["device"] == "disk":
        assert d["ring"]["generation"] == 2, d
        assert d["ring"]["heartbeat"] > 0, d
' <<<"$(ctl stats --json)"
check "the log says so" grep -q "a/disk: pid $old killed by SIGKILL: starting it again now" "$tmp/run.log"

# A hang: a stopped process stops beating.
old=$(field a net0 pid)
kill -STOP "$old"
check "stopped net mediator replaced" wait_field a net0 pid "!$old"
check "cause: hung" wait_field a net0 cause hung

# The operator: kill counts as a crash, restart does not.
old=$(field a disk pid)
check "cupulectl kill" ctl kill a disk
check "killed by cupulectl, replaced" wait_field a disk pid "!$old"
check "cause: killed by operator" wait_field a disk cause "killed by operator"
old=$(field a disk pid)
check "cupulectl restart" ctl restart a disk
check "restarted by cupulectl" wait_field a disk pid "!$old"
check "cause: restarted by operator" wait_field a disk cause "restarted by operator"
check "restart of an unknown device fails" \
	bash -c "! '$bin/cupulectl' --socket '$tmp/ctl.sock' restart a nosuch 2>/dev/null"

# The switch: killed, started again on the same ports.
old=$(field - lan pid)
kill -9 "$old"
check "switch started again" wait_field - lan pid "!$old"
check "switch restart counted" wait_field - lan restarts 1

# Crash loop: b/net0 allows one exit in the window; the second: down.
kill -9 "$(field b net0 pid)"
wait_field b net0 state running >/dev/null
kill -9 "$(field b net0 pid)"
check "crash loop: down" wait_field b net0 state down
check "down: no pid" wait_field b net0 pid None
check "cause: restart limit" wait_field b net0 cause "restart limit"
check "kill of a down device is refused" bash -c "! '$bin/cupulectl' --socket '$tmp/ctl.sock' kill b net0 2>/dev/null"
check "restart brings it back" ctl restart b net0
check "running again" wait_field b net0 state running

# Permissions: nobody may not even connect; root only for kill.
check "nobody cannot connect" bash -c \
	"! setpriv --reuid=65534 --regid=65534 --clear-groups '$bin/cupulectl' --socket '$tmp/ctl.sock' list 2>/dev/null"

# A second cupule given the same uids (the default uid_base): refused
# before it starts anything, naming the uid and who has it.  Then the
# lock that covers two cupules starting at once: a uid held by someone
# else's flock, with no process running as it yet.
truncate -s 8M "$tmp/dup.img"
dup_cfg() {
	cat <<EOF
control = { socket = "$tmp/dup.sock"; };
$1
vms = ( { name = "d"; memory = "64M"; vcpus = 1; kernel = "idle.bz";
    console = "file:$tmp/d.con";
    devices = ( { type = "blk"; id = "disk"; image = "dup.img"; } ); } );
EOF
}
dup_cfg "" >"$tmp/dup.cfg"
"$bin/cupule" run "$tmp/dup.cfg" >"$tmp/dup.log" 2>&1
check "a second cupule with the same uid_base is refused" test "$?" = 1
check "naming the uid and the process that has it" \
	grep -q "d/disk: uid 2000000001 is in use by pid [0-9]* (cupule-blk)" "$tmp/dup.log"
check "before any VM started" bash -c "! grep -q 'vm d' '$tmp/dup.log'"
dup_cfg "uid_base = 2110000000;" >"$tmp/dup.cfg"
flock /run/cupule/uid/2110000001 sleep 60 &
holder=$!
for _ in $(seq 50); do
	flock -n /run/cupule/uid/2110000001 true 2>/dev/null || break
	sleep 0.1
done
"$bin/cupule" run "$tmp/dup.cfg" >"$tmp/dup.log" 2>&1
check "a uid another cupule has claimed is refused" test "$?" = 1
check "and said so" grep -q "d/disk: uid 2110000001 is claimed by another cupule" "$tmp/dup.log"
kill "$holder"
wait "$holder" 2>/dev/null

# A bad request gets an error, not silence; the socket keeps working.
reply=$(python3 - "$tmp/ctl.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'not json\n{"cmd":"nope"}\n{"cmd":"kill"}\n{"cmd":"list"}\n')
buf = b""
while buf.count(b"\n") < 4:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode())
EOF
)
check "bad requests answered with errors, then list works" python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin.read().splitlines() if l]
assert [l["ok"] for l in lines] == [False, False, False, True], lines
' <<<"$reply"

# A VM process that does not answer (stopped): the others still do, it
# is named, and the exit status says the answer is partial.
vmb=$(field b net0 vm_pid)
kill -STOP "$vmb"
out=$(ctl list 2>"$tmp/partial.err")
rc=$?
kill -CONT "$vmb"
check "a VM that does not answer: list exits 1" test "$rc" = 1
check "and names it" grep -q "^cupulectl: vm b did not answer" "$tmp/partial.err"
check "the other VM's devices are listed" grep -Eq '^a +disk +blk' <<<"$out"
check "and none of its own" bash -c "! grep -q '^b ' <<<'$out'"
check "it answers again once running" wait_field b net0 state running

# Stop: the VMs end, the socket goes, no mediator or switch is left.
pids=$(ctl list --json | python3 -c '
import json, sys
print(" ".join(str(d["pid"]) for d in json.load(sys.stdin) if d["pid"]))')
kill "$pid"
wait "$pid"
pid=
check "socket removed at exit" test ! -e "$tmp/ctl.sock"
left=
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "no mediator or switch left (pids $pids)" test -z "$left"

# A scenario weakened on purpose: two devices given the same uid.  The
# audit flags them (and nothing else).
cat >"$tmp/weak.cfg" <<EOF
control = { socket = "$tmp/weak.sock"; };
vms = ( { name = "w"; memory = "64M"; vcpus = 1; kernel = "idle.bz";
    console = "file:$tmp/w.con";
    devices = ( { type = "blk"; image = "weak.img"; uid = 2100000000; },
                { type = "net"; backend = "switch:lan"; uid = 2100000000; } ); } );
EOF
truncate -s 1M "$tmp/weak.img"
"$bin/cupule" run "$tmp/weak.cfg" >"$tmp/weak.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/weak.sock" ] && break; sleep 0.1; done
# Both mediators READY before the audit looks.
for _ in $(seq 200); do
	[ "$("$bin/cupulectl" --socket "$tmp/weak.sock" list --json 2>/dev/null |
	    grep -c '"state":"running"')" = 2 ] && break
	sleep 0.1
done
"$bin/cupulectl" --socket "$tmp/weak.sock" audit >"$tmp/weak.txt" 2>&1
rc=$?
check "audit of the weakened scenario exits 1" test "$rc" = 1
[ "$rc" = 1 ] || sed 's/^/  | /' "$tmp/weak.txt" "$tmp/weak.log"
check "it flags the shared uid" grep -q "FINDING: w/blk0 and w/net0 share uid 2100000000" "$tmp/weak.txt"
check "and nothing else" test "$(grep -c FINDING "$tmp/weak.txt")" = 1
kill "$pid"
wait "$pid"
pid=

# A policy narrowed on purpose, through the real build: blk's serve
# stage without epoll_wait.  The mediator is killed by SIGSYS at READY,
# the call is named, the supervisor restarts it until the device is
# down, and the VM keeps running.
mkdir -p "$tmp/pol"
sed '/^serve/,$ s/"epoll_wait",//' "$here/../../mediators/blk/blk.policy" >"$tmp/pol/blk.policy"
if ! grep -q epoll_wait "$tmp/pol/blk.policy" ||
   grep -A20 '^serve' "$tmp/pol/blk.policy" | grep -q '"epoll_wait"'; then
	bad "the narrowed policy has no epoll_wait in setup or still one in serve"
fi
(cd "$here/../.." && make -s BUILD="$tmp/narrow" \
	POLICY_FILES="$tmp/pol/blk.policy mediators/net/net.policy mediators/net/switch.policy" \
	"$tmp/narrow/bin/cupule" "$tmp/narrow/bin/cupule-blk" >"$tmp/narrow.log" 2>&1)
check "a cupule with the narrowed policy builds" test -x "$tmp/narrow/bin/cupule-blk"
cat >"$tmp/narrow.cfg" <<EOF
control = { socket = "$tmp/narrow.sock"; };
supervise = { restart_limit = 2; backoff_min_ms = 10; backoff_max_ms = 20; };
vms = ( { name = "n"; memory = "64M"; vcpus = 1; kernel = "idle.bz";
    console = "file:$tmp/n.con";
    devices = ( { type = "blk"; id = "disk"; image = "disk.img"; } ); } );
EOF
"$tmp/narrow/bin/cupule" run "$tmp/narrow.cfg" >"$tmp/narrow-run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/narrow.sock" ] && break; sleep 0.1; done
check "the forbidden call is named" wait_log "sandbox: system call epoll_wait (232) is not in the serve policy of blk"
check "the supervisor says why it died" wait_log "killed by SIGSYS (a system call its sandbox forbids)"
check "crashing in a loop: down" wait_log "n/disk: device down (restart limit)"
check "the VM is still running" kill -0 "$pid"
check "and answers cupulectl" bash -c "'$bin/cupulectl' --socket '$tmp/narrow.sock' list | grep -Eq '^n +disk +blk +- +down'"
kill "$pid"
wait "$pid"
pid=

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
