#!/bin/bash
# Installs what libckpt needs to build and test on Debian 12 (as root).
set -eu
pkgs="build-essential autoconf automake libtool pkg-config make
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libcunit1-dev libxxhash-dev libcurl4-openssl-dev libssl-dev libxml2-dev
      libjansson-dev libisal-dev clang libclang-rt-14-dev
      python3-dev python3-mpi4py python3-numpy python3-torch
      slurm-wlm munge bc
      ca-certificates python3 procps util-linux coreutils man-db"
missing=$(dpkg-query -W -f='${Status} ${Package}\n' $pkgs 2>/dev/null |
          grep -v '^install ok installed' | awk '{print $NF}' || true)
# dpkg-query is silent about packages it has never heard of: ask apt then.
if [ -n "$missing" ] || ! dpkg-query -W $pkgs >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
# Azurite, the Azure Blob emulator the storage tests run against, comes from
# npm; Debian's nodejs and npm serve where no Node.js is installed yet.
if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
