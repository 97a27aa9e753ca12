#!/bin/sh
# A lab node: the node agent and the proxy, side by side, as on a real node.
#   lab-node NODE_IP POD_CIDR
# Each with its own credentials, minted into the image (scripts/lab-image):
# the node agent as system:node:<hostname>, the proxy as system:kube-proxy.
# KUBE_SERVER, when set (the HA lab), replaces only the kubeconfigs' server.
set -e
node_ip=$1
pod_cidr=$2
kubelet_conf=/etc/kubernetes/kubelet-$(hostname).conf
proxy_conf=/etc/kubernetes/proxy.conf
# A host whose kernel has IPVS as modules: load them from its /lib/modules
# (mounted read-only, as kind mounts it for kube-proxy), as kube-proxy's
# IPVS mode needs them.
if [ ! -e /proc/net/ip_vs ] && [ -d "/lib/modules/$(uname -r)" ]; then
  modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh 2>/dev/null ||
    echo "lab-node: could not load the IPVS modules from /lib/modules/$(uname -r)" >&2
fi
if [ -e /proc/net/ip_vs ]; then
  mode=ipvs
  strict_arp=--ipvs-strict-arp
else
  echo "lab-node: this kernel has no IPVS (/proc/net/ip_vs is missing): using nftables" >&2
  mode=nftables
fi
# Pods resolve names through the kube-dns Service (kubeadm's address and domain).
# Its API on 10250 (logs, exec) takes only the apiserver's client certificate.
kubelet-lite --kubeconfig "$kubelet_conf" --client-ca-file /etc/kubernetes/pki/ca.crt \
  --node-ip "$node_ip" --pod-cidr "$pod_cidr" \
  --cluster-dns 10.96.0.10 --cluster-domain cluster.local &
# The node holds the LoadBalancer addresses it wins on eth0 (MetalLB's layer 2).
# The proxy runs under this shell, restarted when it exits, as a kubelet
# restarts kube-proxy's pod: `kill $(cat /run/proxy.pid)` restarts just it
# (the HA lab's chaos test does, to show that a restart leaves the rules be).
trap 'kill $(cat /run/proxy.pid) 2>/dev/null; exit 0' TERM INT
while :; do
  proxy --kubeconfig "$proxy_conf" --proxy-mode "$mode" ${strict_arp:-} --nodeport-addresses "$node_ip" \
    --lb-announce-interface eth0 &
  echo $! >/run/proxy.pid
  wait $! && status=0 || status=$?
  # A TERM for this shell interrupts `wait` too: the trap has run, we are gone.
  echo "lab-node: the proxy exited ($status); starting it again" >&2
  sleep 1
done
