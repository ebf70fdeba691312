# GPU calls 4+: wait up to SECONDS (default 570) for bench:scale to end, keeping the machine, then bring the log back.
limit=${1:-570}; t0=$(date +%s)
while [[ ! -f /tmp/q/end && $(( $(date +%s) - t0 )) -lt $limit ]]; do sleep 5; done
cp /tmp/q/scale.log /tmp/q/scale.json "$OUT/" 2>/dev/null
[[ -f /tmp/q/start ]] && echo "elapsed since start: $(( $(date +%s) - $(cat /tmp/q/start) )) s"
free -g | head -2; df -h /tmp | tail -1; nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
tail -40 /tmp/q/scale.log
