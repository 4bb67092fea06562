"""A PEP 517 build backend in the standard library alone, so that
`pip install bindings/python` works offline, with no setuptools or wheel to
fetch: it zips the pure-Python package llmbill/ into a wheel."""
import base64
import hashlib
import os
import re
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name and version: pyproject.toml's [project] table is the one place they are written
with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as _f:
    _PROJECT = _f.read()
NAME = re.search(r'^name = "([^"]+)"', _PROJECT, re.M).group(1)
VERSION = re.search(r'^version = "([^"]+)"', _PROJECT, re.M).group(1)
TAG = "py3-none-any"
METADATA = """Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: Usage-based billing for LLM calls: Python bindings (ctypes) for libllmbill, and a LiteLLM callback
Requires-Python: >=3.8
""".format(name=NAME, version=VERSION)
WHEEL = """Wheel-Version: 1.0
Generator: llmbill_build
Root-Is-Purelib: true
Tag: {tag}
""".format(tag=TAG)


def _files():
    pkg = os.path.join(HERE, NAME)
    for root, dirs, files in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = "%s-%s.dist-info" % (NAME, VERSION)
    name = "%s-%s-%s.whl" % (NAME, VERSION, TAG)
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        entries = [(arc, open(full, "rb").read()) for full, arc in _files()]
        entries += [(dist + "/METADATA", METADATA.encode()), (dist + "/WHEEL", WHEEL.encode()),
                    (dist + "/top_level.txt", (NAME + "\n").encode())]
        for arc, data in entries:
            z.writestr(arc, data)
            records.append(_record_line(arc, data))
        records.append(dist + "/RECORD,,")
        z.writestr(dist + "/RECORD", "\n".join(records) + "\n")
    return name


def build_sdist(sdist_directory, config_settings=None):
    import tarfile

    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "_build/llmbill_build.py"]:
            t.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        for full, arc in _files():
            t.add(full, arcname=base + "/" + arc)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        import io
        t.addfile(info, io.BytesIO(data))
    return name
