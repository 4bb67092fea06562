#!/bin/sh
# record() latency of two builds, alternating: bench_record's reference (per
# CPU), memory1 (1 thread, unpinned and pinned to each CPU) and journal
# (process / fsync durability), RUNS times each (default 5). This VM has slow
# phases: compare only runs whose reference is at its quiet value (~30 ns).
# usage: record_ab.sh NAME=BUILD_DIR NAME=BUILD_DIR  (each has bench/bench_record, bench/noop.so)
set -eu
RUNS=${RUNS:-5}
i=1
while [ "$i" -le "$RUNS" ]; do
    for spec in "$@"; do
        name=${spec%%=*} dir=${spec#*=}
        echo "== $name run $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
        (cd "$dir" && ./bench/bench_record bench reference memory1 journal) |
            sed -n 's/^reference.*CPU \([0-9]\): p50 \([0-9]*\) ns/  reference CPU \1: \2 ns/p
                    s/^\(\[[^]]*\] \)\{0,1\}record latency, \([0-9]\) thread.*p50 \([0-9]*\) ns, p99 \([0-9]*\) ns.*/  \1\2 thr: p50 \3 p99 \4/p'
    done
    i=$((i + 1))
done
