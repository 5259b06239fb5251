"""`make tools` (deploy/tools/install.sh): names what is missing when not root, and changes nothing
when everything is there."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mci_testing.deploy import (
    DEPLOY,
    run,
    tool,
)


def test_make_tools_names_the_missing_packages_when_not_root(tmp_path: Path) -> None:
    """Not root and nothing installed: no apt-get, exit 1, and the packages to install named."""
    fake_id = tmp_path / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n", encoding="utf-8")
    fake_id.chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(DEPLOY / "tools" / "install.sh")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "missing Debian packages: docker-compose prometheus" in result.stderr
    assert "apt-get install -y --no-install-recommends docker-compose prometheus" in result.stderr


def test_make_tools_is_idempotent_when_everything_is_there() -> None:
    for name in ("docker-compose", "promtool", "prometheus", "kubectl"):
        tool(name)
    result = run("/bin/bash", str(DEPLOY / "tools" / "install.sh"))
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stdout
    assert "docker-compose 1.29" in result.stdout
