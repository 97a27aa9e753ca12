#!/bin/sh
# A control-plane host that is not a node: it reaches the pods through a
# static route to each node's podCIDR, the routes a cloud's route
# controller (or a CNI's BGP) programs. The apiserver needs them for
# `services/NAME:PORT/proxy` (kubectl proxy), which dials a pod's IP.
#   lab-pod-routes CIDR=NODE_IP... -- COMMAND...
set -e
while [ "$1" != "--" ]; do
  ip route replace "${1%%=*}" via "${1#*=}"
  shift
done
shift
exec "$@"
