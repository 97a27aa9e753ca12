#!/bin/sh
# A lab node: the node agent and the proxy, side by side, as on a real node.
#   lab-node NODE_IP POD_CIDR
set -e
node_ip=$1
pod_cidr=$2
server=${KUBE_SERVER:-http://172.28.0.3:6443}
if [ -e /proc/net/ip_vs ]; then
  mode=ipvs
  strict_arp=--ipvs-strict-arp
else
  echo "lab-node: this kernel has no IPVS (/proc/net/ip_vs is missing): using nftables" >&2
  mode=nftables
fi
# Pods resolve names through the kube-dns Service (kubeadm's address and domain).
kubelet-lite --server "$server" --node-ip "$node_ip" --pod-cidr "$pod_cidr" \
  --cluster-dns 10.96.0.10 --cluster-domain cluster.local &
# The node holds the LoadBalancer addresses it wins on eth0 (MetalLB's layer 2).
exec proxy --server "$server" --proxy-mode "$mode" ${strict_arp:-} --nodeport-addresses "$node_ip" \
  --lb-announce-interface eth0
