# The lab's one image, mini-k8s/lab:latest: every container of
# docker-compose.yml runs it (etcd, the apiserver, the controller, the
# nodes). `docker compose build` (or `docker build -t mini-k8s/lab:latest .`)
# builds it on any machine with a registry; scripts/lab-image builds it on
# one without, after making these two base images locally from Debian's
# packages and this machine's Rust toolchain (scripts/lab-base-images).
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# protoc, for etcd-client's generated gRPC code.
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies first, in a layer that a change to our sources keeps:
# the manifests, each crate a stub, the release build of what they need.
# (One line per crate: crates/e2e/tests/architecture.rs checks the list.)
COPY Cargo.toml Cargo.lock ./
COPY crates/api/Cargo.toml crates/api/
COPY crates/apiserver/Cargo.toml crates/apiserver/
COPY crates/cluster-dns/Cargo.toml crates/cluster-dns/
COPY crates/controller/Cargo.toml crates/controller/
COPY crates/e2e/Cargo.toml crates/e2e/
COPY crates/informer/Cargo.toml crates/informer/
COPY crates/kubectl-lite/Cargo.toml crates/kubectl-lite/
COPY crates/kubelet-lite/Cargo.toml crates/kubelet-lite/
COPY crates/prometheus/Cargo.toml crates/prometheus/
COPY crates/proxy/Cargo.toml crates/proxy/
ARG PROGRAMS="-p apiserver -p controller -p proxy -p kubelet-lite -p cluster-dns"
RUN for c in crates/*/; do mkdir -p "$c/src" && touch "$c/src/lib.rs" && echo 'fn main() {}' >"$c/src/main.rs"; done \
 && cargo build --release --locked $PROGRAMS \
 && rm -rf crates/*/src
# Then our sources (touched: older than the stubs, cargo would keep the stubs' build).
COPY crates crates
RUN find crates -name '*.rs' -exec touch {} + \
 && cargo build --release --locked $PROGRAMS \
 && mkdir /out && cd target/release && cp apiserver apiserver-lb controller proxy kubelet-lite cluster-dns /out/

FROM ${DEBIAN_IMAGE}
# etcd for the etcd containers; for the nodes, iproute2 (network
# namespaces, veths), nftables and ipvsadm (the proxy's two kernel modes;
# kmod loads the IPVS modules where the host has them), curl, busybox (the
# shell images' applets; nslookup and wget inside pods, arping for a taken
# LoadBalancer address); openssl for the ServiceAccount signing key.
RUN apt-get update \
 && apt-get install -y --no-install-recommends etcd-server etcd-client iproute2 nftables ipvsadm kmod \
      curl ca-certificates busybox-static openssl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && for tool in nslookup wget arping netstat; do \
      command -v "$tool" >/dev/null || ln -s /bin/busybox "/usr/local/bin/$tool"; done
COPY --from=build /out/ /usr/local/bin/
COPY lab/node.sh /usr/local/bin/lab-node
COPY lab/pod-routes.sh /usr/local/bin/lab-pod-routes
COPY lab/pki.sh /usr/local/bin/lab-pki
# The lab's credentials, as kubeadm lays them out (a lab's CA, made fresh
# with each build): README, "The lab's credentials".
RUN lab-pki /etc/kubernetes
