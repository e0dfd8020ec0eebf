#!/usr/bin/env python3
"""Build a platform wheel that puts the release binary of tlsgate on PATH.

The binary goes into tlsgate-VERSION.data/scripts/, which pip and uv install
into the environment's bin (Scripts on Windows) directory: no Python code
runs at all, and the user needs no compiler. Standard library only.

    python3 packaging/wheel.py --version "$(git describe --tags --always --dirty)" \
        --target linux/amd64 --dist dist
"""

import argparse
import base64
import hashlib
import os
import re
import sys
import zipfile

# Wheel platform tags per release target. A static CGO_ENABLED=0 binary
# needs no libc at all, so a Linux wheel is for glibc systems (manylinux:
# 2.17 is the manylinux2014 baseline) and musl ones such as Alpine
# (musllinux 1.1) alike; the wheel carries both tags. macOS 12.0 is the
# oldest release Go 1.25 and later run on: the linker writes it as the
# binary's minimum OS (LC_BUILD_VERSION), and TestDist checks that the
# tag and the binary agree.
PLATFORM_TAGS = {
    "linux/amd64": ["manylinux_2_17_x86_64", "musllinux_1_1_x86_64"],
    "linux/arm64": ["manylinux_2_17_aarch64", "musllinux_1_1_aarch64"],
    "darwin/arm64": ["macosx_12_0_arm64"],
    "windows/amd64": ["win_amd64"],
}

SUMMARY = "HTTPS in front of your web apps: certificates, TLS and proxying in one program"


def pep440(describe):
    """Turn a `git describe --tags --always --dirty` into a PEP 440 version.

    v1.2.3 -> 1.2.3; v1.2.3-4-gabc -> 1.2.3.post4+gabc; a trailing -dirty
    adds .dirty to the local part; an untagged describe (a bare hash) is
    0.0.0+gHASH.
    """
    d = describe.strip()
    dirty = d.endswith("-dirty")
    if dirty:
        d = d[: -len("-dirty")]
    local = []
    # An untagged describe is an abbreviated hash (7+ hex digits, no dot);
    # test it first: a hash such as 0294b61 also reads as the beta 294b61.
    m = re.fullmatch(r"v?(\d+(?:\.\d+)*)(?:[-.]?((?:a|b|rc)\d+))?(?:-(\d+)-g([0-9a-f]+))?", d)
    if re.fullmatch(r"[0-9a-f]{7,40}", d):
        public = "0.0.0"
        local.append("g" + d)
    elif m:
        # PEP 440's normal form drops leading zeros (v1.02 is 1.2).
        public = ".".join(str(int(n)) for n in m.group(1).split("."))
        if m.group(2):
            pre = re.fullmatch(r"(a|b|rc)(\d+)", m.group(2))
            public += pre.group(1) + str(int(pre.group(2)))
        if m.group(3):
            public += ".post" + m.group(3)
            local.append("g" + m.group(4))
    else:
        public = "0.0.0"
        local.append(re.sub(r"[^A-Za-z0-9]+", ".", d).strip(".") or "unknown")
    if dirty:
        local.append("dirty")
    return public + ("+" + ".".join(local) if local else "")


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def metadata(version):
    return (
        "Metadata-Version: 2.1\n"
        "Name: tlsgate\n"
        "Version: %s\n"
        "Summary: %s\n"
        "Home-page: https://github.com/tlsgate/tlsgate\n"
        "License: Apache-2.0\n"
        "Requires-Python: >=3.7\n"
        "Description-Content-Type: text/plain\n"
        "\n"
        "tlsgate terminates TLS for your web apps, gets and renews their\n"
        "certificates and forwards plain HTTP to them. This wheel carries the\n"
        "tlsgate binary; after `pip install tlsgate` run `tlsgate --help`.\n"
    ) % (version, SUMMARY)


def wheel_file(platforms):
    return (
        "Wheel-Version: 1.0\n"
        "Generator: tlsgate packaging/wheel.py\n"
        "Root-Is-Purelib: false\n"
    ) + "".join("Tag: py3-none-%s\n" % p for p in platforms)


def add(zf, name, data, mode=0o644):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16  # regular file; pip keeps the x bit
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build(describe, target, dist):
    platforms = PLATFORM_TAGS[target]
    version = pep440(describe)
    goos, goarch = target.split("/")
    exe = ".exe" if goos == "windows" else ""
    binary = os.path.join(dist, "tlsgate_%s_%s_%s%s" % (describe, goos, goarch, exe))
    with open(binary, "rb") as f:
        bin_data = f.read()

    data_dir = "tlsgate-%s.data" % version
    info_dir = "tlsgate-%s.dist-info" % version
    files = [
        ("%s/scripts/tlsgate%s" % (data_dir, exe), bin_data, 0o755),
        ("%s/METADATA" % info_dir, metadata(version).encode(), 0o644),
        ("%s/WHEEL" % info_dir, wheel_file(platforms).encode(), 0o644),
    ]
    record = "".join(record_line(n, d) + "\n" for n, d, _ in files)
    record += "%s/RECORD,,\n" % info_dir

    # Several platform tags go into the file name dot-separated (a
    # compressed tag set, as the wheel spec names it).
    out = os.path.join(dist, "tlsgate-%s-py3-none-%s.whl" % (version, ".".join(platforms)))
    with zipfile.ZipFile(out, "w") as zf:
        for name, data, mode in files:
            add(zf, name, data, mode)
        add(zf, "%s/RECORD" % info_dir, record.encode())
    print(out)
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True, help="the git describe version of the binaries")
    p.add_argument("--target", required=True, choices=sorted(PLATFORM_TAGS))
    p.add_argument("--dist", default="dist", help="where the binaries are and the wheel goes")
    p.add_argument("--print-version", action="store_true", help="print the PEP 440 version and exit")
    a = p.parse_args(argv)
    if a.print_version:
        print(pep440(a.version))
        return 0
    build(a.version, a.target, a.dist)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
