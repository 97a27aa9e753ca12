#!/bin/sh
# The lab's credentials, made once when the image is built (the Dockerfile
# runs it), as kubeadm lays them out under DIR (/etc/kubernetes):
#   pki/ca.crt, ca.key, apiserver.crt...   `apiserver certs`: the CA and the
#       serving certificate, whose SANs are the lab's apiserver, the HA
#       lab's front and its apiservers; the apiserver's kubelet client
#       certificate (kubeadm's apiserver-kubelet-client)
#   pki/sa.key   the key every apiserver signs ServiceAccount tokens with
#   *.conf       one kubeconfig per component, each its own least-privilege
#       identity (README, "The lab's credentials"); admin.conf points at
#       the published port, for the host (scripts/lab copies it out).
#   lab-pki DIR
set -eu
dir=$1
pki=$dir/pki
mkdir -p "$pki"
apiserver certs --cert-dir "$pki" --advertise-address 172.28.0.3 \
  --apiserver-cert-extra-sans 172.28.0.30,172.28.0.31,172.28.0.32
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null
mint() { # FILE SERVER COMPONENT
  (umask 077; apiserver kubeconfig --cert-dir "$pki" --server "$2" --component "$3" >"$dir/$1")
}
mint controller-manager.conf https://172.28.0.3:6443 controller-manager
mint proxy.conf https://172.28.0.3:6443 proxy
for node in node1 node2; do mint "kubelet-$node.conf" https://172.28.0.3:6443 "node:$node"; done
mint admin.conf https://127.0.0.1:6443 admin
