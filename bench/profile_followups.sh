#!/usr/bin/env bash
# usage: bench/profile_followups.sh [BUILD] [REQUESTS]
# Instructions per push (callgrind, bench/profile.sh) with channels 1..100
# and no follow-ups, then with 3 follow-ups on every channel: the push
# path's cost of follow-ups without the noise of a shared machine. Both
# runs: [tag] and [followup] worker = false (only the push path is
# counted), the same drive.py load (70 % subscribes through a channel),
# and the channels in four campaigns of 25 (PROFILE_CAMPAIGNS=0: none).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-5000}
setup() {  # setup MODE: the PROFILE_SETUP command for profile.sh
  cat <<EOS
set -e
cfg=\$1
chmod 0640 "\$cfg"
printf '[tag]\nworker = false\n[followup]\nworker = false\n' >>"\$cfg"
w() { "$build/wxscene" --config "\$cfg" "\$@" >/dev/null; }
w store migrate
camps=${PROFILE_CAMPAIGNS:-4}
for c in \$(seq "\$camps"); do w campaign add "metro-\$c"; done
for s in \$(seq 100); do
  w channel add "\$s" --name "Store \$s" --reply "Welcome to {channel}" \
    \$([ "\$camps" -gt 0 ] && echo "--campaign=metro-\$(( (s - 1) % camps + 1 ))")
  if [ "$1" = followups ]; then
    w channel followup add "\$s" --text "coupon: reply 1"
    w channel followup add "\$s" --news "This week" --news-url "https://shop.example.com/p?id=\$s"
    w channel followup add "\$s" --text "third"
  fi
done
EOS
}
for mode in none followups; do
  { PROFILE_SETUP=$(setup "$mode") PROFILE_TOP=1 bash "$root/bench/profile.sh" "$build" "$n" || true; } |
    grep "^requests=" | sed "s/^/$mode: /"
done
