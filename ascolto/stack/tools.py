"""Java and Maven, found and checked before anything is downloaded or started."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

from core.errors import StackError

MIN_JAVA = 17
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def java_home() -> Path:
    """JAVA_HOME, or the JDK behind ``java`` on PATH; checked to be Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        java_home_dir = Path(home)
    else:
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "Java 17 or newer is needed to run the local Kafka and Elasticsearch: "
                "install a JDK (e.g. `apt-get install openjdk-17-jdk-headless`) or set JAVA_HOME."
            )
        java_home_dir = Path(java).resolve().parent.parent
    major = _java_major(java_home_dir / "bin" / "java")
    if major < MIN_JAVA:
        raise StackError(
            f"Java {major} was found at {java_home_dir}, but the local stack needs Java {MIN_JAVA} or newer: "
            "install one and point JAVA_HOME at it."
        )
    return java_home_dir


def _java_major(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise StackError(f"Could not tell the version of {java}; check that it runs (`{java} -version`).")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def maven() -> str:
    """Path of ``mvn``, with a clear error when it is missing."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (`mvn`) is needed once to download Kafka and Elasticsearch from Maven Central: "
            "install it (e.g. `apt-get install maven`)."
        )
    return mvn


def run_maven(args: list[str], log_file: Path, what: str, java: Path) -> None:
    """Run mvn in batch mode, output to ``log_file``; a failure names what was being fetched."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "JAVA_HOME": str(java)}
    with log_file.open("w") as log:
        result = subprocess.run(
            [maven(), "-B", "-ntp", *args], stdout=log, stderr=subprocess.STDOUT, env=env, check=False
        )
    if result.returncode != 0:
        raise StackError(
            f"Maven could not download {what} from Maven Central; check your network or proxy, details in {log_file}."
        )


def unzip_with_modes(archive: Path, dest: Path) -> None:
    """Extract a zip keeping the Unix permission bits (zipfile drops them, and bin/ scripts must stay executable)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
