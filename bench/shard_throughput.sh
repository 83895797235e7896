#!/bin/bash
# Pairs/s of `deno task reconstruct` matching for 1 and 2 shards run at once on this machine, and
# the merges: bench/shard_throughput.sh [IMAGES] [OUT] (default: sfm_dev fountain, out/shard_throughput)
cd "$(dirname "$0")/.."
K=1077.921875,1079.75,594.01953125,393.28515625
D=${1:-../shared/data/sfm_dev/fountain/images}
O=${2:-out/shard_throughput}; rm -rf "$O"; mkdir -p "$O"
opts="--camera-model PINHOLE --camera-params $K --skip-mapper"
s=$(date +%s.%N)
deno task reconstruct $D --out $O/one $opts --shard 0/1 > $O/one.log 2>&1
e=$(date +%s.%N); echo "1 shard: $(echo "$e - $s" | bc) s" > $O/times.txt
s=$(date +%s.%N)
deno task reconstruct $D --out $O/two $opts --shard 0/2 > $O/two0.log 2>&1 &
deno task reconstruct $D --out $O/two $opts --shard 1/2 > $O/two1.log 2>&1 &
wait
e=$(date +%s.%N); echo "2 shards at once: $(echo "$e - $s" | bc) s" >> $O/times.txt
s=$(date +%s.%N)
deno task reconstruct $D --out $O/two $opts --merge > $O/merge.log 2>&1
e=$(date +%s.%N); echo "merge of 2: $(echo "$e - $s" | bc) s" >> $O/times.txt
s=$(date +%s.%N)
deno task reconstruct $D --out $O/one $opts --merge > $O/merge1.log 2>&1
e=$(date +%s.%N); echo "merge of 1: $(echo "$e - $s" | bc) s" >> $O/times.txt
echo finished >> $O/times.txt
